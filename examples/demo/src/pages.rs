//! The demo's pages: plain server-rendered HTML (maud escapes everything it
//! interpolates), a little CSS, no JavaScript.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use narvik::{Session, SessionId, Timestamp};

use crate::DemoData;

const STYLE: &str = r#"
:root { --ink: #1d2330; --muted: #6b7385; --line: #e3e6ee; --brand: #2f5bea; --bg: #f6f7fb; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); }
header .bar { max-width: 760px; margin: 0 auto; padding: 14px 20px; display: flex; align-items: center; gap: 16px; }
header .logo { font-weight: 700; letter-spacing: .02em; color: var(--brand); text-decoration: none; font-size: 18px; }
header nav { margin-left: auto; display: flex; gap: 12px; align-items: center; }
header nav a { color: var(--ink); text-decoration: none; }
main { max-width: 760px; margin: 32px auto; padding: 0 20px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 28px; box-shadow: 0 1px 2px rgba(20,30,60,.04); }
.narrow { max-width: 420px; margin: 0 auto; }
h1 { margin: 0 0 8px; font-size: 26px; }
p.lead { color: var(--muted); margin: 0 0 24px; }
label { display: block; font-weight: 600; margin: 16px 0 6px; }
input[type=text], input[type=password] { width: 100%; padding: 10px 12px; border: 1px solid var(--line); border-radius: 8px; font: inherit; }
input:focus { outline: 2px solid var(--brand); outline-offset: 1px; }
button { white-space: nowrap; font: inherit; cursor: pointer; border-radius: 8px; padding: 9px 16px; border: 1px solid var(--brand); background: var(--brand); color: #fff; }
button.plain { background: #fff; color: var(--ink); border-color: var(--line); }
button.danger { background: #fff; color: var(--bad); border-color: #f0c7c4; }
a.button { display: inline-block; text-decoration: none; border-radius: 8px; padding: 9px 16px; border: 1px solid var(--line); background: #fff; color: var(--ink); }
.when { display: block; font-size: 13px; color: var(--muted); }
form.inline { display: inline; margin: 0; }
.actions { margin-top: 24px; display: flex; gap: 10px; flex-wrap: wrap; }
.error { background: #fdecea; color: var(--bad); border-radius: 8px; padding: 10px 12px; margin-bottom: 8px; }
.muted { color: var(--muted); }
table { width: 100%; border-collapse: collapse; margin-top: 12px; }
th, td { text-align: left; padding: 10px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
td:not(:first-child) { white-space: nowrap; }
th { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.tag { display: inline-block; font-size: 12px; padding: 2px 8px; border-radius: 99px; background: #e8eefe; color: var(--brand); margin-left: 6px; }
code { font-size: 13px; }
label.check { display: flex; gap: 8px; align-items: center; font-weight: 400; }
.small { font-size: 13px; margin: 4px 0 0; }
"#;

fn layout(title: &str, user: Option<&str>, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · narvik demo" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { div.bar {
                    a.logo href="/" { "narvik demo" }
                    nav {
                        @if let Some(user) = user {
                            span.muted { "Signed in as " strong { (user) } }
                            a href="/sessions" { "Your sessions" }
                            form.inline method="post" action="/signout" {
                                button.plain type="submit" { "Sign out" }
                            }
                        } @else {
                            a href="/signin" { "Sign in" }
                            a href="/signup" { "Sign up" }
                        }
                    }
                } }
                main { (body) }
            }
        }
    }
}

/// The sign-in or sign-up form.
pub fn credentials_form(signup: bool, error: Option<&str>, username: &str) -> Markup {
    let (title, action, button, other) = if signup {
        (
            "Create an account",
            "/signup",
            "Sign up",
            html! { "Have an account? " a href="/signin" { "Sign in" } },
        )
    } else {
        (
            "Sign in",
            "/signin",
            "Sign in",
            html! { "New here? " a href="/signup" { "Create an account" } },
        )
    };
    layout(
        title,
        None,
        &html! {
            div.card.narrow {
                h1 { (title) }
                p.lead { "A session-authentication demo for narvik." }
                @if let Some(error) = error { div.error role="alert" { (error) } }
                form method="post" action=(action) {
                    label for="username" { "Username" }
                    input #username type="text" name="username" value=(username) autocomplete="username" required;
                    label for="password" { "Password" }
                    input #password type="password" name="password"
                        autocomplete=(if signup { "new-password" } else { "current-password" }) required;
                    label.check for="remember" {
                        input #remember type="checkbox" name="remember" value="on";
                        " Remember me for 30 days"
                    }
                    p.muted.small { "Without it, you are signed out when the browser closes, or after 12 hours unused." }
                    div.actions { button type="submit" { (button) } }
                }
                p.muted { (other) }
            }
        },
    )
}

/// The signed-in home page.
pub fn home(user: &str, session: &Session<DemoData>, now: Timestamp) -> Markup {
    layout(
        "Home",
        Some(user),
        &html! {
            div.card {
                h1 #welcome { "Welcome, " (user) }
                p.lead { "You are signed in. This session was started " (ago(session.created_at, now)) " on "
                    (session.data.user_agent) "." }
                p { "It expires " (until(session.expires_at, now))
                    ", and slides forward while you keep using the site"
                    @if session.persistent { " (remembered on this browser)." }
                    @else { ", or when you close the browser." } }
                div.actions {
                    a.button href="/sessions" { "Manage your sessions" }
                }
            }
        },
    )
}

/// The list of the user's sessions, with revoke buttons.
pub fn sessions(
    user: &str,
    current: &SessionId,
    list: &[Session<DemoData>],
    now: Timestamp,
) -> Markup {
    layout(
        "Your sessions",
        Some(user),
        &html! {
            div.card {
                h1 { "Your sessions" }
                p.lead { "Every device signed in to your account. Revoke any you do not recognise." }
                table #sessions {
                    thead { tr { th { "Device" } th { "Started" } th { "Last active" } th { "Expires" } th {} } }
                    tbody {
                        @for s in list {
                            tr data-session=(s.id) {
                                td {
                                    (s.data.user_agent)
                                    @if s.id == *current { span.tag { "this device" } }
                                    @if s.persistent { span.tag { "remembered" } }
                                }
                                td { (ago(s.created_at, now)) (date(s.created_at)) }
                                td.active { (ago(s.last_seen_at(), now)) (date(s.last_seen_at())) }
                                td { (until(s.expires_at, now)) (date(s.expires_at)) }
                                td {
                                    @if s.id == *current {
                                        form.inline method="post" action="/signout" {
                                            button.plain type="submit" { "Sign out" }
                                        }
                                    } @else {
                                        form.inline method="post" action="/sessions/revoke" {
                                            input type="hidden" name="id" value=(s.id);
                                            button.danger type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                div.actions {
                    form.inline method="post" action="/sessions/others" {
                        button.danger #sign-out-others type="submit" { "Sign out everywhere else" }
                    }
                }
            }
        },
    )
}

/// Asks for the password again before "sign out everywhere else", when
/// the session is not fresh.
pub fn confirm_password(user: &str, error: Option<&str>) -> Markup {
    layout(
        "Confirm your password",
        Some(user),
        &html! {
            div.card.narrow {
                h1 { "Confirm your password" }
                p.lead { "You signed in a while ago. Type your password again to sign out your other sessions." }
                @if let Some(error) = error { div.error role="alert" { (error) } }
                form method="post" action="/sessions/others" {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    div.actions {
                        button.danger #confirm type="submit" { "Sign out everywhere else" }
                        a.button href="/sessions" { "Cancel" }
                    }
                }
            }
        },
    )
}

fn span_words(ms: i64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        m if m < 1 => "less than a minute".to_owned(),
        m if m < 60 => plural(m, "minute"),
        m if m < 48 * 60 => plural(m / 60, "hour"),
        m => plural(m / (24 * 60), "day"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// The moment itself, under the relative text: a `<time>` with the
/// machine-readable instant and the UTC date and time to the minute.
fn date(t: Timestamp) -> Markup {
    let at =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_unix_millis()) * 1_000_000);
    let Ok(at) = at else {
        return html! {};
    };
    let shown = at
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    let machine = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    html! { time.when datetime=(machine) { (shown) } }
}

fn ago(t: Timestamp, now: Timestamp) -> String {
    format!(
        "{} ago",
        span_words(now.as_unix_millis() - t.as_unix_millis())
    )
}

fn until(t: Timestamp, now: Timestamp) -> String {
    format!(
        "in {}",
        span_words(t.as_unix_millis() - now.as_unix_millis())
    )
}
