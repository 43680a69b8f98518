"""Delivery: what a pull request changes (diff), how it is shown (markdown, graph), and how it is
deployed (the Automation API commands). Nothing here imports a cloud SDK."""
