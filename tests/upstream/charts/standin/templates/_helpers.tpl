{{- define "standin.fullname" -}}
{{- if and (kindIs "string" .Values.fullnameOverride) .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 -}}
{{- else -}}
{{- .Release.Name | trunc 63 -}}
{{- end -}}
{{- end -}}
{{- define "standin.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "standin.nodeDaemon" -}}
{{- has .Chart.Name (list "nvidia-device-plugin" "dcgm-exporter") -}}
{{- end -}}
