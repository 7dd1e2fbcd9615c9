-- mesa-fe: each agent's open cases, kept by triggers on `cases`. Assigning a new case reads the
-- agents' loads; counting them from `cases` cost one index entry per open case at every new case
-- (about 0.2 ms per thousand open cases, on the daemon's one writer).
-- Open: nuevo, pendiente_informacion, en_atencion, escalado (as `open_case_counts` counted).
CREATE TABLE agent_loads (
    agent       TEXT PRIMARY KEY,
    open_cases  INTEGER NOT NULL
);

INSERT INTO agent_loads (agent, open_cases)
SELECT agent, COUNT(*) FROM cases
WHERE agent IS NOT NULL AND status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado')
GROUP BY agent;

CREATE TRIGGER cases_agent_load_insert AFTER INSERT ON cases
WHEN NEW.agent IS NOT NULL
    AND NEW.status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado')
BEGIN
    INSERT INTO agent_loads (agent, open_cases) VALUES (NEW.agent, 1)
    ON CONFLICT (agent) DO UPDATE SET open_cases = open_cases + 1;
END;

CREATE TRIGGER cases_agent_load_delete AFTER DELETE ON cases
WHEN OLD.agent IS NOT NULL
    AND OLD.status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado')
BEGIN
    UPDATE agent_loads SET open_cases = open_cases - 1 WHERE agent = OLD.agent;
END;

CREATE TRIGGER cases_agent_load_update AFTER UPDATE OF agent, status ON cases
WHEN OLD.agent IS NOT NEW.agent OR OLD.status IS NOT NEW.status
BEGIN
    UPDATE agent_loads SET open_cases = open_cases - 1
    WHERE agent = OLD.agent
        AND OLD.status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado');
    INSERT INTO agent_loads (agent, open_cases)
    SELECT NEW.agent, 1 WHERE NEW.agent IS NOT NULL
        AND NEW.status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado')
    ON CONFLICT (agent) DO UPDATE SET open_cases = open_cases + 1;
END;
