CREATE TABLE IF NOT EXISTS `narvik_sessions` (
    id         CHAR(64)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id    VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    created_at DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    expires_at DATETIME(3)   NOT NULL,
    data       JSON          NOT NULL DEFAULT 'null',
    PRIMARY KEY (id),
    INDEX `narvik_sessions_user_id_idx` (user_id(255)),
    INDEX `narvik_sessions_expires_at_idx` (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
