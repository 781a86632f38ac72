ALTER TABLE "narvik_sessions"
    ADD COLUMN length_ms          BIGINT         NULL,
    ADD COLUMN persistent         BOOLEAN        NOT NULL DEFAULT TRUE,
    ADD COLUMN last_active_at     TIMESTAMPTZ(3) NULL,
    ADD COLUMN reauthenticated_at TIMESTAMPTZ(3) NULL,
    ADD COLUMN rotated_at         TIMESTAMPTZ(3) NULL;
