# 管理后台的框架，以及各页面共用的词语。
# 每个键在 locales/en/common.ftl 中都有对应的英文。

brand = wxlogin 管理后台
nav-overview = 概览
nav-users = 用户
nav-review = 内容审核
nav-services = 后端服务
nav-webhooks = Webhook
nav-audit = 审计日志
nav-sessions = 管理员会话
nav-admins = 管理员
sign-out = 退出登录
language-label = 语言
zone-note = 时间均按 { $zone } 时区显示。
back-to-site = 返回管理后台
cancel = 取消

role-viewer = 查看者
role-operator = 操作员
role-owner = 所有者

gender-unknown = 未知
gender-male = 男
gender-female = 女

count-about = 约 { $n }
count-more-than = 超过 { $n }
duration-hours = { $n } 小时
duration-minutes = { $n } 分钟

col-account = 账号
col-admin = 管理员
col-app = 小程序
col-appid = AppID
col-openid = OpenID
col-unionid = UnionID
col-nickname = 昵称
col-gender = 性别
col-province = 省份
col-city = 城市
col-risk = 风险等级
col-created = 注册时间
col-last-login = 最后登录
col-last-seen = 最后活跃
col-ip = IP 地址
col-user-agent = 客户端（User-Agent）
col-status = 状态
col-name = 名称

no-identities = 暂无身份。
no-sessions = 暂无会话。
