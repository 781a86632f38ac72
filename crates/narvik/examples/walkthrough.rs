//! Walks one session through its life: create, validate, extend, list,
//! invalidate, expire, purge. Prints each step.
//!
//! ```sh
//! cargo run -p narvik --example walkthrough
//! ```
//!
//! Time is a `ManualClock`, so the days pass instantly.

use std::time::Duration;

use narvik::store::MemoryStore;
use narvik::{Clock, Config, Error, ManualClock, Narvik, Timestamp};
use serde::{Deserialize, Serialize};

/// Additional data kept with each session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Device {
    user_agent: String,
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

#[allow(clippy::print_stdout)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let clock = ManualClock::new(Timestamp::now());
    let config = Config::builder().session_length(30 * DAY).build()?;
    let store = MemoryStore::<Device>::new();
    let narvik = Narvik::with_config(store.clone(), config).with_clock(clock.clone());
    let day = |t: Timestamp| t.saturating_duration_since(clock.now()).as_secs_f64() / 86_400.0;

    println!("1. create: a user signs in");
    let laptop = narvik
        .create_session(
            "ada",
            Device {
                user_agent: "Firefox on a laptop".into(),
            },
        )
        .await?;
    println!(
        "   session id (SHA-256 of the token, what the store keeps): {}",
        laptop.session.id
    );
    println!("   expires in {:.1} days", day(laptop.session.expires_at));
    println!("   Set-Cookie: {}", narvik.create_cookie(&laptop.token));

    println!("2. validate the next day: more than half the length left, nothing written");
    clock.advance(DAY);
    let valid = narvik
        .validate_session(laptop.token.as_str())
        .await?
        .expect("valid");
    println!(
        "   user {}, extended: {}",
        valid.session.user_id, valid.extended
    );

    println!("3. validate on day 16: less than half left, so the expiry slides");
    clock.advance(15 * DAY);
    let valid = narvik
        .validate_session(laptop.token.as_str())
        .await?
        .expect("valid");
    println!(
        "   extended: {} -> send the cookie again; now expires in {:.1} days",
        valid.extended,
        day(valid.session.expires_at)
    );

    println!("4. a second device signs in; list the user's sessions");
    let phone = narvik
        .create_session(
            "ada",
            Device {
                user_agent: "Safari on a phone".into(),
            },
        )
        .await?;
    for s in narvik.fetch_sessions_for_user("ada").await? {
        println!(
            "   {} ... {} (expires in {:.1} days)",
            &s.id.to_string()[..12],
            s.data.user_agent,
            day(s.expires_at)
        );
    }

    println!("5. sign out everywhere else, from the phone");
    narvik
        .delete_other_sessions_for_user("ada", &phone.session.id)
        .await?;
    let laptop_now = narvik.validate_session(laptop.token.as_str()).await?;
    println!("   laptop session valid: {}", laptop_now.is_some());

    println!("6. sign out on the phone: invalidate, and clear the cookie");
    narvik.invalidate_session(&phone.session.id).await?;
    println!("   Set-Cookie: {}", narvik.create_blank_cookie());
    println!(
        "   phone session valid: {}",
        narvik
            .validate_session(phone.token.as_str())
            .await?
            .is_some()
    );

    println!("7. an idle session expires; the purge removes it");
    let idle = narvik
        .create_session(
            "grace",
            Device {
                user_agent: "curl".into(),
            },
        )
        .await?;
    clock.advance(31 * DAY);
    println!("   sessions in the store before the purge: {}", store.len());
    println!("   purged: {}", narvik.delete_all_expired_sessions().await?);
    println!(
        "   idle session valid: {}",
        narvik
            .validate_session(idle.token.as_str())
            .await?
            .is_some()
    );
    println!("   sessions in the store: {}", store.len());
    Ok(())
}
