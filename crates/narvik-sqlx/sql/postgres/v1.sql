CREATE TABLE IF NOT EXISTS "narvik_sessions" (
    id         CHAR(64)       PRIMARY KEY,
    user_id    TEXT           NOT NULL,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ(3) NOT NULL,
    data       JSONB          NOT NULL DEFAULT 'null'
);
CREATE INDEX IF NOT EXISTS "narvik_sessions_user_id_idx" ON "narvik_sessions" (user_id);
CREATE INDEX IF NOT EXISTS "narvik_sessions_expires_at_idx" ON "narvik_sessions" (expires_at);
