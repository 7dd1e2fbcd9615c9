-- PostgreSQL translation of migrations/sqlite/0019_bandeja.sql (rules in 0001_init.sql).
-- mesa-fe: the console's bandeja (issue 15). `search_text` is what a search by words reads: the
-- subject and the requester's own words of the first message, folded (lowercase, no accents:
-- `crate::text::fold`) and cut to 4,000 characters, written when the case opens. Cases opened before
-- this migration get it here in SQL: lower() and the Spanish accented letters replaced, which is
-- what fold() does for Spanish text (other marks, rare in requests, stay).
ALTER TABLE cases ADD COLUMN search_text TEXT COLLATE "C";
UPDATE cases SET search_text = substr(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(lower(subject || ' ' || COALESCE((SELECT m.own_words FROM case_messages m WHERE m.case_id = cases.id ORDER BY m.id LIMIT 1), '')), 'á', 'a'), 'é', 'e'), 'í', 'i'), 'ó', 'o'), 'ú', 'u'), 'ü', 'u'), 'ñ', 'n'), 'Á', 'a'), 'É', 'e'), 'Í', 'i'), 'Ó', 'o'), 'Ú', 'u'), 'Ü', 'u'), 'Ñ', 'n'), 1, 4000);

-- The bandeja's filters and the viewer's scope (a group's or a tema's cases, open ones first).
CREATE INDEX cases_group_status ON cases (group_name, status);
CREATE INDEX cases_tema_status ON cases (tema, status);
CREATE INDEX cases_level_status ON cases (level, status);
-- A search by NIT reads the registered provider besides the documents' parties.
CREATE INDEX cases_provider_nit ON cases (provider_nit);
