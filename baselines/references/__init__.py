"""Published reference numbers, shipped as data (one YAML file per model); see harness.report.references."""
