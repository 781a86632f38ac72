CREATE TABLE IF NOT EXISTS "narvik_sessions_migrations" (
    version    BIGINT         PRIMARY KEY,
    applied_at TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);
