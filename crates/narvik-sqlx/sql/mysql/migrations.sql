CREATE TABLE IF NOT EXISTS `narvik_sessions_migrations` (
    version    BIGINT      NOT NULL,
    applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (version)
) ENGINE=InnoDB;
