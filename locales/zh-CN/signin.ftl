# 登录。

signin-title = 登录
signin-username = 用户名
signin-password = 密码
signin-submit = 登录
signin-signed-out = 您已退出登录。
signin-expired = 您的会话已结束：会话在 { $idle } 无操作后结束，且最长保持至登录后 { $lifetime }。请重新登录。
signin-to-continue = 请先登录。
signin-wrong = 用户名或密码错误
signin-throttled = 该用户名在您所在地址的登录失败次数过多，或您所在地址的登录失败次数过多，登录已暂停，请 { $minutes } 分钟后再试。
signin-busy = 当前正在校验的登录请求过多，请几秒后再试。
