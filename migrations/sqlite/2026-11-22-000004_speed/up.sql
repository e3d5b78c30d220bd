-- Speed (issue 5). A province filter is the admin table's commonest, and
-- its users are sorted by last login or creation: with these, the page is
-- a range read of one index instead of a sort of the whole province.
CREATE INDEX users_province_last_login ON users (province, last_login_at, id);
CREATE INDEX users_province_created ON users (province, created_at, id);
