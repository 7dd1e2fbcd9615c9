-- mesa-fe: each agent's open cases, kept by triggers on `cases`. Assigning a new case reads the
-- agents' loads; counting them from `cases` cost one index entry per open case at every new case.
-- Open: nuevo, pendiente_informacion, en_atencion, escalado (as `open_case_counts` counted).
CREATE TABLE agent_loads (
    agent       TEXT COLLATE "C" PRIMARY KEY,
    open_cases  BIGINT NOT NULL
);

INSERT INTO agent_loads (agent, open_cases)
SELECT agent, COUNT(*) FROM cases
WHERE agent IS NOT NULL AND status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado')
GROUP BY agent;

CREATE FUNCTION count_agent_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.agent IS NOT NULL
        AND OLD.status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado') THEN
        UPDATE agent_loads SET open_cases = open_cases - 1 WHERE agent = OLD.agent;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.agent IS NOT NULL
        AND NEW.status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado') THEN
        INSERT INTO agent_loads (agent, open_cases) VALUES (NEW.agent, 1)
        ON CONFLICT (agent) DO UPDATE SET open_cases = agent_loads.open_cases + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER cases_agent_load_insert_delete AFTER INSERT OR DELETE ON cases
FOR EACH ROW EXECUTE FUNCTION count_agent_load();

CREATE TRIGGER cases_agent_load_update AFTER UPDATE OF agent, status ON cases
FOR EACH ROW WHEN (OLD.agent IS DISTINCT FROM NEW.agent OR OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION count_agent_load();
