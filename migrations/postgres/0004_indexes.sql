-- mesa-fe: indexes for the report (cases of a period) and the retention purge (an agent's
-- e-mail per action). PostgreSQL translation of migrations/sqlite/0004_indexes.sql.
CREATE INDEX cases_created ON cases (created_at);
CREATE INDEX case_actions_raw ON case_actions (raw_message_id);
