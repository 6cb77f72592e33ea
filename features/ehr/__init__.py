"""Readers for EHR extracts: patients, labs (LOINC), diagnoses (ICD-10-CM), medications (RxNorm)."""
