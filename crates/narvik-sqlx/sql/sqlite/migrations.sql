CREATE TABLE IF NOT EXISTS "narvik_sessions_migrations" (
    version    INTEGER PRIMARY KEY NOT NULL,
    applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);
