"""Upstream chart truth: chart data (published versions, default values, schemas, CRDs), the checks
that hold mlinfra's Helm releases and custom resources against it, and rendering with real Helm.

- `data`: where the chart data directory is and what it holds (`ChartData`).
- `values`: every values key mlinfra sets exists in the pinned chart version.
- `crds`: every custom resource validates against its CRD's `openAPIV3Schema`.
- `wiring`: cross-object references (monitors, Ingress backends, policies, PDB/HPA targets, accounts).
- `checks`: all of the above over one offline plan.
- `helm`, `render`, `pull`: `mlinfra render` and `mlinfra charts pull` with Helm v3.
"""
