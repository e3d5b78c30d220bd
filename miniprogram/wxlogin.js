/**
 * wxlogin client for WeChat mini-programs.
 *
 * Copy this one file into your mini-program and create a client once:
 *
 *   const { createClient } = require('./wxlogin.js');
 *   const auth = createClient({ baseUrl: 'https://login.example.com' });
 *   const user = await auth.request({ url: '/api/me' }).then((b) => b.user);
 *
 * No dependencies. Every method returns a Promise. See README.md.
 */
'use strict';

const DEFAULT_STORAGE_KEY = 'wxlogin_session';
/** The `errno` of `getPhoneNumber` when the paid quota is used up. */
const PHONE_QUOTA_EXHAUSTED = 1400001;

/** An answer of the wxlogin server that is not a success. */
class WxLoginError extends Error {
  constructor(message, { statusCode = 0, code = 'network_error', data = null } = {}) {
    super(message);
    this.name = 'WxLoginError';
    /** HTTP status, or 0 when the server was not reached. */
    this.statusCode = statusCode;
    /** The server's error code, e.g. `invalid_request` or `session_key_stale`. */
    this.code = code;
    /** The parsed answer body, when there was one. */
    this.data = data;
  }
}

function errorFromResponse(res) {
  let data = res.data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch (e) {
      // Not JSON: keep the text.
    }
  }
  const detail = data && typeof data === 'object' && data.error ? data.error : null;
  return new WxLoginError(detail ? detail.message : `HTTP ${res.statusCode}`, {
    statusCode: res.statusCode,
    code: detail ? detail.code : 'http_error',
    data,
  });
}

function networkError(err) {
  return new WxLoginError((err && err.errMsg) || String(err), { code: 'network_error' });
}

/**
 * Creates a client.
 *
 * @param {object} options
 * @param {string} options.baseUrl  where wxlogin runs, e.g. `https://login.example.com`
 *   (it must be in the mini-program's request and uploadFile domain lists)
 * @param {string} [options.storageKey]  storage key of the session (default `wxlogin_session`)
 * @param {object} [options.wx]  the `wx` object; defaults to the global one
 * @param {string} [options.appid]  the mini-program's appid; defaults to
 *   `wx.getAccountInfoSync().miniProgram.appId`
 */
function createClient(options) {
  const opts = options || {};
  if (!opts.baseUrl) throw new Error('wxlogin: createClient needs { baseUrl }');
  const baseUrl = String(opts.baseUrl).replace(/\/+$/, '');
  const storageKey = opts.storageKey || DEFAULT_STORAGE_KEY;
  // eslint-disable-next-line no-undef
  const wxApi = opts.wx || (typeof wx !== 'undefined' ? wx : null);
  if (!wxApi) throw new Error('wxlogin: no `wx` object; pass { wx } to createClient');

  /**
   * The mini-program's appid, sent with each login so that a server with
   * several apps knows which one the code is from: `options.appid`, else
   * `wx.getAccountInfoSync()`.
   */
  function appId() {
    if (opts.appid) return String(opts.appid);
    try {
      const info = wxApi.getAccountInfoSync && wxApi.getAccountInfoSync();
      return (info && info.miniProgram && info.miniProgram.appId) || null;
    } catch (e) {
      return null;
    }
  }

  /** The login in progress, shared by every concurrent caller. */
  let pending = null;

  const urlOf = (url) => (/^https?:\/\//.test(url) ? url : baseUrl + url);

  function readSession() {
    let s;
    try {
      s = wxApi.getStorageSync(storageKey);
    } catch (e) {
      return null;
    }
    if (!s || typeof s !== 'object' || !s.token) return null;
    // Treat a token that expires within a minute as gone.
    if (s.expiresAt && Date.parse(s.expiresAt) - Date.now() < 60 * 1000) return null;
    return s;
  }

  /** The stored session token, or `null`. */
  function getToken() {
    const s = readSession();
    return s ? s.token : null;
  }

  /** Whether `res` is the server's error `code` with `statusCode`. */
  function isError(res, statusCode, code) {
    return (
      res.statusCode === statusCode && !!res.data && !!res.data.error && res.data.error.code === code
    );
  }

  function wxLogin() {
    return new Promise((resolve, reject) => {
      wxApi.login({
        success: (res) =>
          res && res.code ? resolve(res.code) : reject(networkError(res || 'wx.login gave no code')),
        fail: (err) => reject(networkError(err)),
      });
    });
  }

  /** One `wx.request`, as a Promise of the raw `{statusCode, data, header}`. */
  function send({ url, method = 'GET', data, header = {}, token }) {
    const headers = Object.assign({}, header);
    if (token) headers.Authorization = `Bearer ${token}`;
    if (data !== undefined && !headers['Content-Type'] && !headers['content-type']) {
      headers['Content-Type'] = 'application/json';
    }
    return new Promise((resolve, reject) => {
      wxApi.request({
        url: urlOf(url),
        method,
        data,
        header: headers,
        dataType: 'json',
        success: resolve,
        fail: (err) => reject(networkError(err)),
      });
    });
  }

  /**
   * Logs in: `wx.login()`, then `POST /api/login`, then stores the token.
   * Concurrent calls share one `wx.login` and one `/api/login`. A code the
   * server says was used already (`code_used`) is replaced by a new
   * `wx.login()`, once.
   *
   * @param {object|function} [userData]  optional `{rawData, signature,
   *   encryptedData, iv}` to send with the code, or a function returning
   *   them (or a Promise of them). A function is called after `wx.login`, so
   *   the data it gets is encrypted with the session key of this very login.
   * @returns {Promise<object>} the `/api/login` answer `{token, expires_at, user}`
   */
  function login(userData) {
    if (pending) return pending;
    pending = (async () => {
      const attempt = async () => {
        const code = await wxLogin();
        const extra = typeof userData === 'function' ? await userData() : userData;
        const body = Object.assign({}, pickUserData(extra), { code });
        const appid = appId();
        if (appid) body.appid = appid;
        return send({ url: '/api/login', method: 'POST', data: body });
      };
      let res = await attempt();
      // A code used already (past the server's retry window): a new
      // wx.login() gives a new one. Once: a second refusal is real.
      if (isError(res, 400, 'code_used')) res = await attempt();
      if (res.statusCode !== 200) throw errorFromResponse(res);
      wxApi.setStorageSync(storageKey, {
        token: res.data.token,
        expiresAt: res.data.expires_at,
      });
      return res.data;
    })();
    const clear = () => {
      pending = null;
    };
    pending.then(clear, clear);
    return pending;
  }

  /** A token, logging in first when there is none. */
  async function ensureToken() {
    const token = getToken();
    if (token) return token;
    await login();
    return getToken();
  }

  /**
   * Runs `attempt(token)`; on a 401, logs in again once and retries once.
   * A 401 for a token that another caller has already replaced is retried
   * with the new token, without another login.
   */
  async function withSession(attempt) {
    const token = await ensureToken();
    let res = await attempt(token);
    if (res.statusCode === 401) {
      if (getToken() === token) {
        wxApi.removeStorageSync(storageKey);
        await login();
      }
      res = await attempt(await ensureToken());
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res.data;
    throw errorFromResponse(res);
  }

  /**
   * `wx.request` with `Authorization: Bearer`, logging in when needed.
   *
   * @param {object} options  `{url, method, data, header}`; `url` may be a
   *   path on the server, e.g. `/api/me`
   * @returns {Promise<any>} the answer body of a 2xx; rejects with a
   *   `WxLoginError` otherwise
   */
  function request(options) {
    const o = options || {};
    return withSession((token) =>
      send({ url: o.url, method: o.method, data: o.data, header: o.header, token }),
    );
  }

  /** The current user (`GET /api/me`). */
  function me() {
    return request({ url: '/api/me' }).then((b) => b.user);
  }

  /**
   * Changes profile fields: any of `nickname`, `avatar_url`, `gender`,
   * `country`, `province`, `city`, `language`. Resolves to the user.
   */
  function updateProfile(fields) {
    // wx.request has no PATCH; POST /api/me is the same call.
    return request({ url: '/api/me', method: 'POST', data: fields || {} }).then((b) => b.user);
  }

  /**
   * Uploads an avatar image (PNG, JPEG or WebP, up to 2 MiB): a temporary
   * file path such as the `e.detail.avatarUrl` that
   * `<button open-type="chooseAvatar">` gives.
   * Resolves to the user, whose `avatar_url` now points at the image.
   */
  function uploadAvatar(tempFilePath) {
    return withSession(
      (token) =>
        new Promise((resolve, reject) => {
          wxApi.uploadFile({
            url: urlOf('/api/me/avatar'),
            filePath: tempFilePath,
            name: 'file',
            header: { Authorization: `Bearer ${token}` },
            success: (res) => {
              // uploadFile hands back the body as text.
              let data = res.data;
              try {
                data = JSON.parse(res.data);
              } catch (e) {
                // Leave it as text.
              }
              resolve({ statusCode: res.statusCode, data });
            },
            fail: (err) => reject(networkError(err)),
          });
        }),
    ).then((b) => b.user);
  }

  /**
   * Binds the phone number. Give it the event of
   * `<button open-type="getPhoneNumber" bindgetphonenumber="…">` (or its
   * `e.detail`, or the code itself). Resolves to
   * `{phone_number, phone_country_code, user}`.
   *
   * WeChat bills every successful exchange; check `hasVerifiedPhone()`
   * first and skip the button when the user has a number already. When the
   * mini-program's paid quota is used up, the button gives `errno 1400001`
   * and no code: this rejects with code `phone_quota_exhausted`, without
   * calling the server. When the user declines (no code), with
   * `phone_denied`.
   */
  function bindPhone(eventOrCode) {
    let detail = eventOrCode;
    if (detail && typeof detail === 'object' && detail.detail) detail = detail.detail;
    let code = detail;
    if (detail && typeof detail === 'object') {
      if (Number(detail.errno) === PHONE_QUOTA_EXHAUSTED) {
        return Promise.reject(
          new WxLoginError(
            'the phone-number quota of this mini-program is used up (errno 1400001): top it up in the WeChat console, or offer another way to give a number',
            { code: 'phone_quota_exhausted', data: detail },
          ),
        );
      }
      code = detail.code;
    }
    if (typeof code !== 'string' || !code) {
      const why = detail && detail.errMsg ? ` (${detail.errMsg})` : '';
      return Promise.reject(
        new WxLoginError(`no phone code: the user declined or the button failed${why}`, {
          code: 'phone_denied',
          data: detail && typeof detail === 'object' ? detail : null,
        }),
      );
    }
    return request({ url: '/api/me/phone', method: 'POST', data: { code } });
  }

  /**
   * Whether the user already has a phone number that WeChat verified
   * (`user.phone_verified_at`): then the paid button can be skipped.
   */
  function hasVerifiedPhone() {
    return me().then((user) => !!user.phone_verified_at);
  }

  /**
   * Sends user data (from `wx.getUserInfo` or `wx.getUserProfile`) to be
   * checked with the session key of the last login. Resolves to the user.
   *
   * Pass a function that gets the data (or a Promise of it) rather than the
   * data itself, so that the data can be fetched anew. Any `wx.login()`
   * may make WeChat replace the session key, and data made with the new key
   * cannot be checked with the one the server holds: the server then
   * answers 409 `session_key_stale`, and this heals it, once, in the one
   * order that works: `wx.login()` and `POST /api/login` first (the server
   * now holds the current key), then the function is called again for
   * fresh data, then the data is sent again. Data given as an object is
   * sent again as it is, which works only when the key did not change.
   * `invalid_user_data` (the key is current, the data wrong) is not retried.
   *
   * @param {object|function} userData  `{encryptedData, iv, rawData?, signature?}`,
   *   or a function returning it (or a Promise of it)
   */
  async function sendUserInfo(userData) {
    const get = async () => pickUserData(typeof userData === 'function' ? await userData() : userData);
    const post = (data) => request({ url: '/api/me/userinfo', method: 'POST', data });
    try {
      return (await post(await get())).user;
    } catch (err) {
      if (!(err instanceof WxLoginError) || err.code !== 'session_key_stale') throw err;
    }
    await login();
    return (await post(await get())).user;
  }

  /**
   * Everything the server stores about the user (`GET /api/me/export`):
   * `{exported_at, account, identities, sessions}`, for a "download my
   * data" page. Never a session key or a token.
   */
  function exportMyData() {
    return request({ url: '/api/me/export' });
  }

  /**
   * Closes the user's account (注销, `DELETE /api/me`): the server erases
   * the profile, phone number, avatar, identities and session keys, and
   * every token of the account stops working. Resolves once it is gone,
   * and forgets the token. A later `login()` makes a new, empty account.
   *
   * A 401 is not taken as done: the token may have expired while the
   * account lives on. It logs in again and deletes once more, so the user
   * is left without an account either way (even when a first delete
   * succeeded and only its answer was lost).
   */
  async function deleteAccount() {
    const attempt = (token) => send({ url: '/api/me', method: 'DELETE', token });
    let token = await ensureToken();
    let res = await attempt(token);
    if (res.statusCode === 401) {
      if (getToken() === token) wxApi.removeStorageSync(storageKey);
      token = (await login()).token;
      res = await attempt(token);
    }
    if (res.statusCode !== 204) throw errorFromResponse(res);
    if (getToken() === token) wxApi.removeStorageSync(storageKey);
  }

  /** Ends the session on the server (when there is one) and forgets the token. */
  async function logout() {
    const token = getToken();
    wxApi.removeStorageSync(storageKey);
    if (!token) return;
    const res = await send({ url: '/api/logout', method: 'POST', token });
    // 401: the token was already gone, which is what logout wants.
    if (res.statusCode !== 204 && res.statusCode !== 401) throw errorFromResponse(res);
  }

  return {
    login,
    request,
    me,
    updateProfile,
    uploadAvatar,
    bindPhone,
    hasVerifiedPhone,
    sendUserInfo,
    exportMyData,
    deleteAccount,
    logout,
    getToken,
  };
}

function pickUserData(data) {
  const out = {};
  if (data && typeof data === 'object') {
    for (const k of ['rawData', 'signature', 'encryptedData', 'iv']) {
      if (typeof data[k] === 'string' && data[k]) out[k] = data[k];
    }
  }
  return out;
}

module.exports = { createClient, WxLoginError };
