CREATE TABLE IF NOT EXISTS "narvik_sessions" (
    id         CHAR(64) PRIMARY KEY NOT NULL,
    user_id    TEXT     NOT NULL,
    created_at INTEGER  NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    expires_at INTEGER  NOT NULL,
    data       TEXT     NOT NULL DEFAULT 'null'
);
CREATE INDEX IF NOT EXISTS "narvik_sessions_user_id_idx" ON "narvik_sessions" (user_id);
CREATE INDEX IF NOT EXISTS "narvik_sessions_expires_at_idx" ON "narvik_sessions" (expires_at);
