# Helpers shared by every app of the workspace; each app sources this file.

# say MESSAGE…: one line prefixed with the app's name ($APP).
say() {
    printf '%s: %s\n' "${APP:-app}" "$*"
}
