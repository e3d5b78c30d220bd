-- The phone number bound with POST /api/me/phone (WeChat's purePhoneNumber
-- and countryCode). Personal data: NULL until the user shares it.
ALTER TABLE users ADD COLUMN phone_number TEXT;
ALTER TABLE users ADD COLUMN phone_country_code TEXT;
