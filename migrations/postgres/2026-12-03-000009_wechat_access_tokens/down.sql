DROP TABLE wechat_access_tokens;
