# 概览页的图表（admin/overview_charts.rs）。

chart-new-users = 每日新增用户
chart-logins = 每日登录次数
chart-users = 用户分布
chart-last-30 = 最近 30 天
chart-last-90 = 最近 90 天
chart-new-users-30 = 最近 30 天每日新增用户
chart-new-users-90 = 最近 90 天每日新增用户
chart-logins-30 = 最近 30 天每日登录次数
chart-logins-90 = 最近 90 天每日登录次数
chart-phones-30 = 最近 30 天每日计费手机号获取次数
chart-by-gender = 用户性别分布
chart-by-province = 用户省份分布（前列）
chart-by-gender-caption = 按性别
chart-by-province-caption = 按省份（前列）
chart-counted-at = 统计于 { $at }，每 10 分钟更新一次。
chart-being-counted = 正在统计，请稍后刷新。
