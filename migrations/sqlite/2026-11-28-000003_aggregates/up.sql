-- Perpetrator affiliations one row each, like exploitation types, so that
-- aggregates group on them in SQL; filled from the stored content.
CREATE TABLE incident_perpetrator_affiliations (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (incident_id, affiliation)
);
CREATE INDEX incident_perpetrator_affiliations_idx ON incident_perpetrator_affiliations (affiliation, incident_id);

INSERT INTO incident_perpetrator_affiliations (incident_id, affiliation)
SELECT DISTINCT i.id, json_extract(p.value, '$.affiliation')
FROM incidents i, json_each(i.content, '$.perpetrators') p;
