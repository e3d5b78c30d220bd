ALTER TABLE users DROP COLUMN phone_country_code;
ALTER TABLE users DROP COLUMN phone_number;
