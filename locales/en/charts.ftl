# The overview's charts (admin/overview_charts.rs).

chart-new-users = New users per day
chart-logins = Logins per day
chart-users = Users
chart-last-30 = Last 30 days
chart-last-90 = Last 90 days
chart-new-users-30 = New users per day, last 30 days
chart-new-users-90 = New users per day, last 90 days
chart-logins-30 = Logins per day, last 30 days
chart-logins-90 = Logins per day, last 90 days
chart-phones-30 = Billed phone-number exchanges per day, last 30 days
chart-by-gender = Users by gender
chart-by-province = Users by province, the largest
chart-by-gender-caption = By gender
chart-by-province-caption = By province, the largest
chart-counted-at = Counted at { $at }; recounted every 10 minutes.
chart-being-counted = Being counted; reload in a few seconds.
