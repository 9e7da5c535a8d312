DROP TABLE audit_log;
DROP TABLE incident_events;
DROP TABLE incident_exploitation_types;
DROP TABLE incidents;
DROP TABLE deployments;
DROP TABLE bases;
DROP TABLE missions;
