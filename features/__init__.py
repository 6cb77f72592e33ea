"""Feature pipelines: raw genetic, lifestyle and EHR files -> one patient-level feature table."""
