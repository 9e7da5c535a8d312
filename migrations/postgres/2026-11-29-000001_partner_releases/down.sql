DROP TABLE release_cells;
DROP TABLE releases;
DROP FUNCTION releases_never_change();
