DROP TABLE profile_totals;
DROP TABLE activity_hours;
