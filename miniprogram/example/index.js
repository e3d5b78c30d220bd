// Example page for wxlogin. Copy wxlogin.js into your project (here it sits
// one folder up) and create the client once, e.g. in a small module of its own.
const { createClient } = require('../wxlogin.js');

// Your wxlogin server. Add it to the request and uploadFile domain lists of
// the mini-program (in development, tick "do not check domains" in the
// developer tools to use http://127.0.0.1:8080 with `wxlogin serve --dev`).
// The client sends your mini-program's appid with each login. `serve --dev`
// simulates two dev apps of its own and refuses other appids (unknown_app),
// so against it name the first dev app; leave `appid` out in production.
const auth = createClient({ baseUrl: 'http://127.0.0.1:8080', appid: 'wx0000000000000dev' });

Page({
  data: {
    user: null,
    busy: false,
    error: '',
  },

  onLoad() {
    // A stored token is reused; request() signs in again by itself if it has expired.
    if (auth.getToken()) this.refresh();
  },

  refresh() {
    return this.run(() => auth.me().then((user) => this.setData({ user })));
  },

  onSignIn() {
    return this.run(() => auth.login().then(({ user }) => this.setData({ user })));
  },

  onChooseAvatar(e) {
    const { avatarUrl } = e.detail; // a temporary local file
    return this.run(() => auth.uploadAvatar(avatarUrl).then((user) => this.setData({ user })));
  },

  onSaveNickname(e) {
    const nickname = (e.detail.value.nickname || '').trim();
    if (!nickname) {
      this.setData({ error: 'Please enter a nickname' });
      return Promise.resolve();
    }
    return this.run(() => auth.updateProfile({ nickname }).then((user) => this.setData({ user })));
  },

  onPhoneNumber(e) {
    // The button is shown only while user.phone_verified_at is null: each
    // number WeChat gives is billed.
    return this.run(() =>
      auth.bindPhone(e).then(
        ({ user }) => this.setData({ user }),
        (err) => {
          // The user declined: nothing to say.
          if (err.code === 'phone_denied') return;
          throw err;
        },
      ),
    );
  },

  onLogout() {
    return this.run(() => auth.logout().then(() => this.setData({ user: null })));
  },

  /** Runs an action with a busy flag and shows its error, if any. */
  run(action) {
    this.setData({ busy: true, error: '' });
    return action()
      .catch((err) => this.setData({ error: err.message || String(err) }))
      .then(() => this.setData({ busy: false }));
  },
});
