# Signing in.

signin-title = Sign in
signin-username = Username
signin-password = Password
signin-submit = Sign in
signin-signed-out = You have signed out.
signin-expired = Your session has ended: sessions end after { $idle } without activity, and { $lifetime } after sign-in. Please sign in again.
signin-to-continue = Sign in to continue.
signin-wrong = wrong username or password
signin-throttled = Too many failed sign-ins for this username from your address, or from your address. Sign-in is paused here; try again in { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
  }.
signin-busy = Too many sign-ins are being checked right now. Try again in a few seconds.
