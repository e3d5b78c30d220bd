'use strict';

// Runs the client library against a real `wxlogin serve --dev`, through a
// simulated `wx` whose request and uploadFile make real HTTP calls.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { createClient, WxLoginError } = require('../wxlogin.js');
const { startServer, createWx, simulatorUserData } = require('../testing/harness.js');

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  if (server) await server.stop();
});

function client(user, appid) {
  const wx = createWx({ user, appid });
  return { wx, auth: createClient({ baseUrl: server.baseUrl, wx }) };
}

const count = (wx, what) => wx.calls.requests.filter((r) => r === what).length;

describe('login', () => {
  test('10 concurrent login() calls share one wx.login and one /api/login', async () => {
    const { wx, auth } = client('single-1');
    const results = await Promise.all(Array.from({ length: 10 }, () => auth.login()));
    assert.equal(wx.calls.login, 1);
    assert.equal(count(wx, 'POST /api/login'), 1);
    const tokens = new Set(results.map((r) => r.token));
    assert.equal(tokens.size, 1);
    const [token] = tokens;
    assert.match(token, /^wxl_[A-Za-z0-9_-]{43}$/);
    assert.equal(auth.getToken(), token);
    assert.equal(wx.getStorageSync('wxlogin_session').token, token);

    // Once it is over, a new login() is a new login.
    await auth.login();
    assert.equal(wx.calls.login, 2);
  });

  test('login() sends the appid of wx.getAccountInfoSync(), so each app has its own openid', async () => {
    const second = client('apps-1', 'wx000000000000dev2');
    const inSecond = await second.auth.login();
    assert.equal(second.wx.calls.bodies[0].appid, 'wx000000000000dev2');
    assert.equal(inSecond.user.appid, 'wx000000000000dev2');

    // Without getAccountInfoSync the server's default app (the first dev app) is used.
    const first = client('apps-1');
    const inFirst = await first.auth.login();
    assert.equal(first.wx.calls.bodies[0].appid, undefined);
    assert.equal(inFirst.user.appid, 'wx0000000000000dev');
    assert.notEqual(inFirst.user.openid, inSecond.user.openid);
    assert.equal(inFirst.user.unionid, inSecond.user.unionid);
  });

  test('an appid the server does not serve is refused with unknown_app', async () => {
    const { auth } = client('apps-2', 'wx9999999999999999');
    await assert.rejects(auth.login(), (err) => err instanceof WxLoginError && err.code === 'unknown_app' && err.statusCode === 400);
  });

  test('request() logs in first when there is no token, and sends it as Bearer', async () => {
    const { wx, auth } = client('first-1');
    assert.equal(auth.getToken(), null);
    const body = await auth.request({ url: '/api/me' });
    assert.equal(wx.calls.login, 1);
    assert.ok(body.user.openid.startsWith('o'));
    assert.deepEqual(wx.calls.requests, ['POST /api/login', 'GET /api/me']);
  });

  test('after the token is revoked, request() logs in again once and retries', async () => {
    const { wx, auth } = client('revoke-1');
    const first = await auth.login();
    // Revoke the session behind the client's back.
    const out = await fetch(`${server.baseUrl}/api/logout`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${first.token}` },
    });
    assert.equal(out.status, 204);
    assert.equal(auth.getToken(), first.token, 'the client still holds the old token');

    // Several requests at once hit the 401 together: one re-login for all.
    const bodies = await Promise.all([1, 2, 3].map(() => auth.request({ url: '/api/me' })));
    for (const body of bodies) assert.equal(body.user.id, first.user.id);
    assert.equal(wx.calls.login, 2, 'exactly one re-login');
    assert.equal(count(wx, 'POST /api/login'), 2);
    assert.notEqual(auth.getToken(), first.token);
    const me = await fetch(`${server.baseUrl}/api/me`, {
      headers: { Authorization: `Bearer ${auth.getToken()}` },
    });
    assert.equal(me.status, 200);
  });

  test('a failed login rejects every waiting caller with the server error', async () => {
    const { wx, auth } = client('fail-40029');
    const results = await Promise.allSettled([auth.login(), auth.login()]);
    assert.equal(wx.calls.login, 1);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof WxLoginError);
      assert.equal(r.reason.statusCode, 401);
      assert.equal(r.reason.code, 'invalid_code');
    }
    assert.equal(auth.getToken(), null);
  });

  test('a code the server says was used is replaced by a new wx.login(), once', async () => {
    // The simulator answers `fail-40163` as WeChat answers a used code.
    const wx = createWx({ user: 'retried-1', codes: ['fail-40163'] });
    const auth = createClient({ baseUrl: server.baseUrl, wx });
    const answer = await auth.login();
    assert.equal(wx.calls.login, 2);
    assert.equal(count(wx, 'POST /api/login'), 2);
    assert.equal(answer.token, auth.getToken());

    const twice = createWx({ user: 'retried-2', codes: ['fail-40163', 'fail-40163'] });
    const refused = createClient({ baseUrl: server.baseUrl, wx: twice });
    await assert.rejects(refused.login(), (e) => e instanceof WxLoginError && e.code === 'code_used');
    assert.equal(twice.calls.login, 2, 'only once');
    assert.equal(refused.getToken(), null);
  });

  test('a retried login with the same code gets the same token (the server\'s retry window)', async () => {
    const first = createWx({ user: 'same-code', codes: ['same-code-1'] });
    const second = createWx({ user: 'same-code', codes: ['same-code-1'] });
    const a = await createClient({ baseUrl: server.baseUrl, wx: first }).login();
    const b = await createClient({ baseUrl: server.baseUrl, wx: second }).login();
    assert.equal(a.token, b.token);
  });

  test('logout() revokes the token on the server and forgets it', async () => {
    const { auth } = client('logout-1');
    const { token } = await auth.login();
    await auth.logout();
    assert.equal(auth.getToken(), null);
    const me = await fetch(`${server.baseUrl}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(me.status, 401);
    await auth.logout(); // nothing to do: still fine
  });
});

describe('the user\'s own data', () => {
  test('exportMyData() gives the account, its identities and sessions, never a session key', async () => {
    const { auth } = client('export-1');
    const user = await auth.me();
    const data = await auth.exportMyData();
    assert.equal(data.account.id, user.id);
    assert.equal(data.identities.length, 1);
    assert.equal(data.identities[0].openid, user.openid);
    assert.equal(data.sessions.length, 1);
    assert.ok(!JSON.stringify(data).includes('session_key"'), 'no session key in the export');
  });

  test('deleteAccount() closes the account, kills the token, and a later login makes a new one', async () => {
    const { auth } = client('delete-1');
    const before = await auth.me();
    const { token } = { token: auth.getToken() };
    await auth.deleteAccount();
    assert.equal(auth.getToken(), null);
    const me = await fetch(`${server.baseUrl}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(me.status, 401);
    const after = await auth.me();
    assert.notEqual(after.id, before.id, 'a new account');
    assert.equal(after.openid, before.openid, 'for the same WeChat user');
  });

  test('deleteAccount() with a revoked token logs in again and still deletes', async () => {
    const { auth } = client('delete-2');
    const { token } = await auth.login();
    await fetch(`${server.baseUrl}/api/logout`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    await auth.deleteAccount();
    assert.equal(auth.getToken(), null);
    const fresh = await auth.me();
    const data = await auth.exportMyData();
    assert.equal(data.account.id, fresh.id);
    assert.equal(data.account.login_count, 1, 'the account left is new');
  });
});

describe('profile', () => {
  test('updateProfile() changes the fields and answers the user', async () => {
    const { auth } = client('profile-1');
    const user = await auth.updateProfile({ nickname: '小明', gender: 1, city: 'Shenzhen' });
    assert.equal(user.nickname, '小明');
    assert.equal(user.gender, 1);
    assert.equal(user.city, 'Shenzhen');
    const me = await auth.me();
    assert.equal(me.nickname, '小明');
    assert.equal(me.city, 'Shenzhen');
  });

  test('updateProfile() rejects bad fields with the server error', async () => {
    const { auth } = client('profile-2');
    await assert.rejects(auth.updateProfile({ nickname: '' }), (err) => {
      assert.ok(err instanceof WxLoginError);
      assert.equal(err.statusCode, 400);
      assert.equal(err.code, 'invalid_request');
      assert.match(err.message, /nickname/);
      return true;
    });
  });

  test('uploadAvatar() uploads the file and sets avatar_url', async () => {
    const { wx, auth } = client('avatar-1');
    // A PNG header for 64×64 pixels: the server reads it and checks the size.
    const png = Buffer.concat([
      Buffer.from('89504e470d0a1a0a0000000d49484452000000400000004008060000000000000000', 'hex'),
      Buffer.alloc(2048, 7),
    ]);
    const file = path.join(server.dir, 'tmp_avatar.png');
    fs.writeFileSync(file, png);
    const user = await auth.uploadAvatar(file);
    assert.equal(wx.calls.uploadFile, 1);
    assert.match(user.avatar_url, /\/media\/avatars\/[0-9a-f]{32}\.png$/);
    assert.ok(user.avatar_url.startsWith(server.baseUrl), user.avatar_url);
    const served = await fetch(user.avatar_url);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), png);
    assert.equal((await auth.me()).avatar_url, user.avatar_url);

    // A file that is not an image is refused.
    const text = path.join(server.dir, 'notes.png');
    fs.writeFileSync(text, 'not an image');
    await assert.rejects(auth.uploadAvatar(text), { statusCode: 400, code: 'invalid_request' });
  });

  test('uploadAvatar() also re-logs in once on a revoked token', async () => {
    const { wx, auth } = client('avatar-2');
    const { token } = await auth.login();
    await fetch(`${server.baseUrl}/api/logout`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    const file = path.join(server.dir, 'tmp_avatar.jpg');
    // A JPEG with a frame header for 64×48 pixels.
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 48, 0x00, 64]);
    fs.writeFileSync(file, Buffer.concat([jpeg, Buffer.alloc(64)]));
    const user = await auth.uploadAvatar(file);
    assert.match(user.avatar_url, /\.jpg$/);
    assert.equal(wx.calls.login, 2);
    assert.equal(wx.calls.uploadFile, 2);
  });

  test('bindPhone() stores the simulated phone number', async () => {
    const { auth } = client('phone-1');
    const answer = await auth.bindPhone('any-phone-code');
    assert.match(answer.phone_number, /^1380013\d{4}$/);
    assert.equal(answer.phone_country_code, '86');
    assert.equal((await auth.me()).phone_number, answer.phone_number);
    await assert.rejects(auth.bindPhone('fail-40029'), { statusCode: 400, code: 'invalid_phone_code' });
  });

  test('hasVerifiedPhone() tells when the paid button can be skipped; bindPhone() takes the button event', async () => {
    const { auth } = client('phone-2');
    assert.equal(await auth.hasVerifiedPhone(), false);
    const answer = await auth.bindPhone({ detail: { code: 'button-code', errMsg: 'getPhoneNumber:ok' } });
    assert.match(answer.phone_number, /^1380013\d{4}$/);
    assert.ok(Date.parse(answer.user.phone_verified_at) > 0, answer.user.phone_verified_at);
    assert.equal(await auth.hasVerifiedPhone(), true);
  });

  test('bindPhone() refuses the quota-exhausted and declined events without calling the server', async () => {
    const { wx, auth } = client('phone-3');
    await auth.login();
    wx.calls.requests.length = 0;
    await assert.rejects(auth.bindPhone({ detail: { errno: 1400001, errMsg: 'getPhoneNumber:fail no quota' } }), (err) => {
      assert.equal(err.code, 'phone_quota_exhausted');
      assert.match(err.message, /1400001/);
      return true;
    });
    await assert.rejects(auth.bindPhone({ detail: { errMsg: 'getPhoneNumber:fail user deny' } }), {
      code: 'phone_denied',
    });
    await assert.rejects(auth.bindPhone(''), { code: 'phone_denied' });
    assert.deepEqual(wx.calls.requests, []);
  });
});

describe('user data and the session key', () => {
  const profile = { nickName: '小红', gender: 2, language: 'zh_CN', city: 'Hangzhou', province: 'Zhejiang', country: 'China', avatarUrl: '' };

  test('sendUserInfo() heals session_key_stale: wx.login(), /api/login, fresh data, one retry', async () => {
    const { wx, auth } = client('stale-1');
    const { user } = await auth.login();
    // Data as WeChat makes it after the mini-program's latest wx.login().
    const latest = () => simulatorUserData(wx.calls.codes[wx.calls.codes.length - 1], user.openid, profile);
    // A wx.login() whose code WeChat exchanged but wxlogin never stored
    // (that login was refused): WeChat's key is now newer than the server's.
    await assert.rejects(auth.login(() => ({ ...latest(), signature: '0'.repeat(40) })), { code: 'invalid_signature' });
    assert.equal(wx.calls.login, 2);
    wx.calls.requests.length = 0;

    let asked = 0;
    const updated = await auth.sendUserInfo(() => {
      asked += 1;
      return latest();
    });
    assert.equal(updated.nickname, '小红');
    assert.equal(updated.city, 'Hangzhou');
    // The order that works: the refused data, then a login, then fresh data.
    assert.deepEqual(wx.calls.requests, ['POST /api/me/userinfo', 'POST /api/login', 'POST /api/me/userinfo']);
    assert.equal(wx.calls.login, 3);
    assert.equal(asked, 2);
    assert.equal((await auth.me()).nickname, '小红');
  });

  test('sendUserInfo() does not retry invalid_user_data: the key is current, the data wrong', async () => {
    const { wx, auth } = client('wrong-1');
    const { user } = await auth.login();
    const last = wx.calls.codes[wx.calls.codes.length - 1];
    const data = { ...simulatorUserData(last, user.openid, profile), signature: '0'.repeat(40) };
    wx.calls.requests.length = 0;
    await assert.rejects(auth.sendUserInfo(data), { statusCode: 400, code: 'invalid_user_data' });
    assert.deepEqual(wx.calls.requests, ['POST /api/me/userinfo']);
    // The right data under the same key is accepted.
    const good = await auth.sendUserInfo(simulatorUserData(last, user.openid, profile));
    assert.equal(good.nickname, '小红');
  });
});
