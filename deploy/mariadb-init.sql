-- Runs once, when the MariaDB volume is new: a database and a user for each service. The
-- passwords here must match .env (PRATAI_DB_PASSWORD, KEYSTONE_DB_PASSWORD); MariaDB's image
-- does not substitute variables in these files.
CREATE DATABASE IF NOT EXISTS pratai CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'pratai'@'%' IDENTIFIED BY 'change-me-pratai-db';
GRANT ALL PRIVILEGES ON pratai.* TO 'pratai'@'%';
CREATE DATABASE IF NOT EXISTS keystone CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'keystone'@'%' IDENTIFIED BY 'change-me-keystone-db';
GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'%';
