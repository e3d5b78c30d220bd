# The user table, a user's page and the merge preview.

users-title = Users
users-count = { $n ->
    [one] { $count } user
   *[other] { $count } users
  }
filter-search = Search
filter-search-placeholder = openid, unionid, nickname or whole phone number
filter-app = App
filter-any = any
filter-gender = Gender
filter-province = Province
filter-city = City
filter-has-unionid = Has unionid
filter-yes = yes
filter-no = no
filter-risk = Risk
risk-any-rank = ranked (0+)
risk-1-up = 1 or more
risk-2-up = 2 or more
risk-3-up = 3 or more
risk-4 = 4 (highest)
filter-created-from = Created from
filter-created-to = to
filter-days-zone = Days in { $zone }
filter-per-page = Per page
filter-apply = Apply
filter-clear = Clear
export-csv = Export CSV
users-col-account = Account
users-col-identities = Identities
users-col-phone = Phone
users-none = No users match.
pager-label = pages
pager-first = « First
pager-prev = ‹ Previous
pager-next = Next ›

user-back = ← Users
user-title = User { $id }
users-row-deleted = account closed
user-deleted = Deleted at { $time }. Its personal data was erased; the id, creation time and deletion time are kept for the audit trail.
field-id = id
field-unionid = unionid
field-nickname = nickname
field-avatar-url = avatar_url
field-avatar-pending = avatar (pending)
field-gender = gender
field-country = country
field-province = province
field-city = city
field-language = language
field-phone = phone
field-created-at = created_at
field-updated-at = updated_at
field-last-login-at = last_login_at
field-login-count = login_count
field-risk-rank = risk_rank
field-other = other
user-waiting-review = waiting for review
user-avatar-waiting = waiting for WeChat's check or review
user-risk-note = (WeChat, 0 lowest to 4; the highest of its identities)
user-identities = Identities
id-col-unionid = unionid (from WeChat)
id-col-first-login = First login
id-col-logins = Logins
id-col-key-issued = Session key issued
user-unlink = Unlink into its own account
user-merge-with = Merge with account
user-merge-preview = Preview the merge
user-sessions = Sessions
user-revoke-all = Revoke all sessions
sess-col-expires = Expires
session-status-active = active
session-status-revoked = revoked
session-status-expired = expired
user-revoke = Revoke
user-delete-heading = Delete account
user-delete-hint = Erases the profile, phone number, avatar, identities and session keys, and ends every session at once. It cannot be undone. A later login of the same WeChat user makes a new account.
user-delete-confirm = Type the account id ({ $id }) to confirm
user-delete-button = Delete account
user-sessions-shown = Showing the newest { $shown } of { $total } sessions.

merge-back = ← Account { $id }
merge-title = Merge accounts { $a } and { $b }
merge-explain-html = Account <a href="/admin/users/{ $kept }">{ $kept }</a> is the older one and is kept. Account
    <a href="/admin/users/{ $removed }">{ $removed }</a> is deleted: its identities and sessions move to
    account { $kept }, and every token keeps working. The kept account's fields win; the ones it has empty are
    filled from the other (marked).
merge-col-field = Field
merge-col-kept = Account { $id } (kept)
merge-col-other = Account { $id }
merge-col-after = After the merge
merge-filled = (filled)
merge-moving = Moving to account { $id }
merge-sessions-moving = { $n ->
    [one] { $n } session
   *[other] { $n } sessions
  }
merge-submit = Merge into account { $id }
