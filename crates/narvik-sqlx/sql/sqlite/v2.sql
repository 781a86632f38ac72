ALTER TABLE "narvik_sessions" ADD COLUMN length_ms          INTEGER NULL;
ALTER TABLE "narvik_sessions" ADD COLUMN persistent         BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "narvik_sessions" ADD COLUMN last_active_at     INTEGER NULL;
ALTER TABLE "narvik_sessions" ADD COLUMN reauthenticated_at INTEGER NULL;
ALTER TABLE "narvik_sessions" ADD COLUMN rotated_at         INTEGER NULL;
