ALTER TABLE `narvik_sessions`
    ADD COLUMN length_ms          BIGINT      NULL,
    ADD COLUMN persistent         BOOLEAN     NOT NULL DEFAULT TRUE,
    ADD COLUMN last_active_at     DATETIME(3) NULL,
    ADD COLUMN reauthenticated_at DATETIME(3) NULL,
    ADD COLUMN rotated_at         DATETIME(3) NULL;
