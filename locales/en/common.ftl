# The admin site's frame and the words every page shares.
# Each key has its twin in locales/zh-CN/common.ftl.

brand = wxlogin admin
nav-overview = Overview
nav-users = Users
nav-review = Review
nav-services = Services
nav-webhooks = Webhooks
nav-audit = Audit log
nav-sessions = Admin sessions
nav-admins = Admins
sign-out = Sign out
language-label = Language
zone-note = Times are shown in { $zone }.
back-to-site = Back to the admin site
cancel = Cancel

role-viewer = viewer
role-operator = operator
role-owner = owner

gender-unknown = Unknown
gender-male = Male
gender-female = Female

count-about = about { $n }
count-more-than = more than { $n }
duration-hours = { $n ->
    [one] { $n } hour
   *[other] { $n } hours
  }
duration-minutes = { $n ->
    [one] { $n } minute
   *[other] { $n } minutes
  }

col-account = Account
col-admin = Admin
col-app = App
col-appid = appid
col-openid = openid
col-unionid = unionid
col-nickname = Nickname
col-gender = Gender
col-province = Province
col-city = City
col-risk = Risk
col-created = Created
col-last-login = Last login
col-last-seen = Last seen
col-ip = IP
col-user-agent = User agent
col-status = Status
col-name = Name

no-identities = No identities.
no-sessions = No sessions.
