-- mesa-fe: related cases, merged duplicates and cases that share an invoice (issue 14, points 5
-- and 6).
-- A duplicate merged into another case keeps its number as a closed stub pointing at the case that
-- took its messages, documents and history: later mail on its thread or with its tag goes there.
ALTER TABLE cases ADD COLUMN merged_into_id INTEGER REFERENCES cases(id);
CREATE INDEX cases_merged_into ON cases (merged_into_id);
-- A new case looks for open cases about the same invoice: its CUFE/CUDE as a document's own
-- (documents_uuid) or as the one an ApplicationResponse answers. `case list --nit X` reads the
-- invoice's parties.
CREATE INDEX documents_referenced_uuid ON documents (referenced_uuid);
CREATE INDEX documents_supplier_nit ON documents (supplier_nit);
CREATE INDEX documents_customer_nit ON documents (customer_nit);
