DROP INDEX users_province_created;
DROP INDEX users_province_last_login;
