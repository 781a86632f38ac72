//! The decision table, case by case.

use super::*;

fn policy(allowed: &[&str]) -> CrossOriginPolicy {
    allowed
        .iter()
        .fold(CrossOriginPolicy::builder(), |b, o| b.allow_origin(*o))
        .build()
        .expect("valid policy")
}

/// A cookie-carrying `POST /` to `host` with this `Origin` and no
/// `Sec-Fetch-Site`.
fn post<'a>(host: &'a str, origin: Option<&'a str>) -> RequestFacts<'a> {
    RequestFacts {
        method: "POST",
        path: "/",
        origin: origin.map_or(HeaderField::Absent, |o| HeaderField::One(o.as_bytes())),
        host: Some(host.as_bytes()),
        session_cookie: true,
        ..RequestFacts::default()
    }
}

fn allowed(policy: &CrossOriginPolicy, facts: &RequestFacts<'_>) -> bool {
    policy.check(facts).request == Decision::Allow
}

fn with_site<'a>(facts: RequestFacts<'a>, site: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        sec_fetch_site: HeaderField::One(site.as_bytes()),
        ..facts
    }
}

#[test]
fn own_origin_passes_with_case_and_default_port_normalised() {
    let p = policy(&[]);
    for (host, origin) in [
        ("Example.COM", "https://example.com"),
        ("example.com:443", "https://example.com"),
        ("localhost:3000", "http://localhost:3000"),
        ("[::1]:8080", "http://[::1]:8080"),
    ] {
        assert!(allowed(&p, &post(host, Some(origin))), "{host} {origin}");
    }
}

#[test]
fn prefix_suffix_and_userinfo_tricks_are_refused() {
    let p = policy(&["https://app.example.com"]);
    for origin in [
        "https://example.com.evil.com",
        "https://evilexample.com",
        "https://example.com@evil.com",
        "https://evil.com/https://example.com",
        "https://app.example.com.evil.com",
        "https://example.com:444",
        "null",
        "example.com",
        "javascript://example.com",
        "file:///etc/passwd",
    ] {
        assert!(
            matches!(
                p.check(&post("example.com", Some(origin))).request,
                Decision::Refuse(_)
            ),
            "{origin} passed"
        );
    }
}

#[test]
fn allow_list_matches_exactly_after_parsing() {
    let p = policy(&["HTTPS://App.Example.com:443/", "https://bücher.de"]);
    assert!(allowed(
        &p,
        &post("example.com", Some("https://app.example.com"))
    ));
    assert!(allowed(
        &p,
        &post("example.com", Some("https://xn--bcher-kva.de"))
    ));
    assert!(!allowed(
        &p,
        &post("example.com", Some("http://app.example.com"))
    ));
}

#[test]
fn a_configured_scheme_must_match() {
    let p = CrossOriginPolicy::builder()
        .request_scheme("HTTPS")
        .build()
        .expect("valid");
    assert!(allowed(
        &p,
        &post("example.com", Some("https://example.com"))
    ));
    assert!(!allowed(
        &p,
        &post("example.com", Some("http://example.com"))
    ));
    // The same host with a port, through the parser rather than the fast
    // path: still the configured scheme.
    assert!(!allowed(
        &p,
        &post("Example.com", Some("http://example.com"))
    ));
    let http = CrossOriginPolicy::builder()
        .request_scheme("http")
        .build()
        .expect("valid");
    assert!(allowed(
        &http,
        &post("example.com", Some("http://example.com"))
    ));
    assert!(!allowed(
        &http,
        &post("example.com", Some("https://example.com"))
    ));
}

#[test]
fn without_a_configured_scheme_the_requests_known_scheme_is_used() {
    let p = policy(&[]);
    let facts = RequestFacts {
        scheme: Some("https"),
        ..post("example.com", Some("http://example.com"))
    };
    assert!(!allowed(&p, &facts));
    let facts = RequestFacts {
        scheme: Some("https"),
        ..post("example.com", Some("https://example.com"))
    };
    assert!(allowed(&p, &facts));
    // A plain-http server: a page on https is another origin.
    let facts = RequestFacts {
        scheme: Some("HTTP"),
        ..post("example.com", Some("https://example.com"))
    };
    assert!(!allowed(&p, &facts));
    let facts = RequestFacts {
        scheme: Some("http"),
        ..post("example.com", Some("http://example.com"))
    };
    assert!(allowed(&p, &facts));
}

#[test]
fn invalid_options_are_refused_at_build_time() {
    for entry in [
        "example.com",
        "localhost:3000",
        "https://example.com/path",
        "https://u:p@example.com",
        "ftp://example.com",
        "https://example.com?x",
        "null",
    ] {
        assert!(
            matches!(
                CrossOriginPolicy::builder().allow_origin(entry).build(),
                Err(PolicyError::InvalidOrigin { .. })
            ),
            "{entry} accepted"
        );
    }
    assert_eq!(
        CrossOriginPolicy::builder()
            .request_scheme("ftp")
            .build()
            .expect_err("ftp"),
        PolicyError::InvalidScheme("ftp".to_owned())
    );
    for path in ["hooks", "", "/a?b", "/a#b", "/a/../b", "/./a", "/a/.."] {
        assert!(
            matches!(
                CrossOriginPolicy::builder().exempt_path(path).build(),
                Err(PolicyError::InvalidExemptPath(_))
            ),
            "{path:?} accepted"
        );
    }
}

#[test]
fn only_known_sec_fetch_sites_can_be_allowed() {
    for site in ["same-origin", "same-site", "none", "NONE", "Same-Site"] {
        assert!(
            CrossOriginPolicy::builder()
                .allow_sec_fetch_site(site)
                .build()
                .is_ok(),
            "{site}"
        );
    }
    for site in ["cross-site", "", "same_site", "same-site "] {
        assert!(
            matches!(
                CrossOriginPolicy::builder()
                    .allow_sec_fetch_site(site)
                    .build(),
                Err(PolicyError::InvalidSecFetchSite(_))
            ),
            "{site:?}"
        );
    }
}

#[test]
fn an_http2_authority_stands_in_for_host() {
    // The adapter puts the URI's authority in `host` when there is no
    // `Host` header; all the policy sees is a host.
    assert!(allowed(
        &policy(&[]),
        &post("example.com", Some("https://example.com"))
    ));
    let no_host = RequestFacts {
        host: None,
        ..post("example.com", Some("https://example.com"))
    };
    assert_eq!(
        policy(&[]).check(&no_host).request,
        Decision::Refuse(Refusal("no usable Host"))
    );
}

#[test]
fn hosts_with_url_syntax_are_unusable() {
    assert!(!allowed(
        &policy(&[]),
        &post("evil.com/@example.com", Some("https://example.com"))
    ));
}

#[test]
fn sec_fetch_site_same_origin_is_trusted_whatever_the_host() {
    // Behind a proxy that rewrites Host, the browser's own comparison
    // still holds.
    let facts = with_site(
        post("internal:8080", Some("https://example.com")),
        "same-origin",
    );
    assert!(allowed(&policy(&[]), &facts));
}

#[test]
fn sec_fetch_site_other_than_same_origin_is_refused_unless_the_origin_is_allow_listed() {
    let p = policy(&["https://admin.example.com"]);
    for site in ["cross-site", "same-site", "garbage", "SAME-ORIGIN"] {
        // Even with Origin naming the host: the browser says otherwise
        // (an http page posting to https has its host, but is not the
        // site).
        let facts = with_site(post("example.com", Some("http://example.com")), site);
        assert!(!allowed(&p, &facts), "{site}");
        let facts = with_site(post("example.com", Some("https://admin.example.com")), site);
        assert!(allowed(&p, &facts), "{site} from the allow-list");
    }
}

#[test]
fn sec_fetch_site_none_leaves_it_to_origin() {
    let p = policy(&[]);
    let facts = with_site(post("example.com", Some("https://example.com")), "none");
    assert!(allowed(&p, &facts));
    let facts = with_site(post("example.com", Some("https://evil.com")), "none");
    assert!(!allowed(&p, &facts));
    let facts = with_site(post("example.com", None), "none");
    assert_eq!(p.provenance(&facts), Provenance::Unknown);
}

#[test]
fn allowed_sec_fetch_sites_are_trusted_and_only_those() {
    let p = CrossOriginPolicy::builder()
        .allow_sec_fetch_site("Same-Site")
        .build()
        .expect("valid");
    for (site, trusted) in [
        ("same-origin", true),
        ("same-site", true),
        ("none", false),
        ("cross-site", false),
        ("SAME-SITE", false),
    ] {
        let facts = with_site(post("example.com", None), site);
        assert_eq!(allowed(&p, &facts), trusted, "{site}");
    }
}

#[test]
fn several_origin_or_sec_fetch_site_headers_are_refused() {
    let p = policy(&[]);
    let facts = RequestFacts {
        origin: HeaderField::Several,
        ..post("example.com", None)
    };
    assert!(matches!(p.check(&facts).request, Decision::Refuse(_)));
    let facts = RequestFacts {
        sec_fetch_site: HeaderField::Several,
        ..post("example.com", Some("https://example.com"))
    };
    assert!(matches!(p.check(&facts).request, Decision::Refuse(_)));
}

#[test]
fn neither_header_is_refused_with_the_cookie_and_allowed_without() {
    let p = policy(&[]);
    let with_cookie = post("example.com", None);
    assert!(matches!(p.check(&with_cookie).request, Decision::Refuse(_)));
    let without = RequestFacts {
        session_cookie: false,
        ..with_cookie
    };
    let verdict = p.check(&without);
    assert_eq!(verdict.request, Decision::Allow);
    assert!(verdict.sign_in.is_err(), "no cookie for an unknown sender");
}

#[test]
fn cross_origin_requests_without_the_cookie_are_refused_too() {
    let p = policy(&[]);
    let facts = RequestFacts {
        session_cookie: false,
        ..post("example.com", Some("https://evil.com"))
    };
    assert!(matches!(p.check(&facts).request, Decision::Refuse(_)));
    let facts = with_site(
        RequestFacts {
            session_cookie: false,
            ..post("example.com", None)
        },
        "cross-site",
    );
    assert!(matches!(p.check(&facts).request, Decision::Refuse(_)));
}

#[test]
fn bearer_only_passes_but_bearer_with_the_cookie_is_checked() {
    let p = policy(&[]);
    let cross = with_site(post("example.com", Some("https://evil.com")), "cross-site");
    let bearer_only = RequestFacts {
        bearer: true,
        session_cookie: false,
        ..cross
    };
    let verdict = p.check(&bearer_only);
    assert_eq!(verdict.request, Decision::Allow);
    assert!(
        verdict.sign_in.is_err(),
        "a cookie sign-in is still refused"
    );
    let both = RequestFacts {
        bearer: true,
        ..cross
    };
    assert!(matches!(p.check(&both).request, Decision::Refuse(_)));
    let both_unknown = RequestFacts {
        bearer: true,
        ..post("example.com", None)
    };
    assert!(matches!(
        p.check(&both_unknown).request,
        Decision::Refuse(_)
    ));
}

#[test]
fn exempt_paths_pass_without_the_cookie() {
    let p = CrossOriginPolicy::builder()
        .exempt_path("/hooks/stripe")
        .exempt_path("/webhooks/")
        .build()
        .expect("valid");
    let cross = post("example.com", Some("https://evil.com"));
    for (path, exempt) in [
        ("/hooks/stripe", true),
        ("/hooks/stripe/", false),
        ("/hooks/stripe2", false),
        ("/hooks", false),
        ("/webhooks/", true),
        ("/webhooks/github", true),
        ("/webhooks", false),
        ("/account", false),
    ] {
        let verdict = p.check(&RequestFacts { path, ..cross });
        if exempt {
            assert!(
                matches!(verdict.request, Decision::PassWithoutCookie(_)),
                "{path}"
            );
        } else {
            assert!(matches!(verdict.request, Decision::Refuse(_)), "{path}");
        }
        assert!(verdict.sign_in.is_err(), "{path}: never a sign-in");
    }
    // A request that passes anyway keeps its cookie.
    let own = post("example.com", Some("https://example.com"));
    let verdict = p.check(&RequestFacts {
        path: "/hooks/stripe",
        ..own
    });
    assert_eq!(verdict.request, Decision::Allow);
}

#[test]
fn safe_methods_and_a_disabled_policy_allow_everything() {
    let cross = with_site(post("example.com", Some("https://evil.com")), "cross-site");
    for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
        let verdict = policy(&[]).check(&RequestFacts { method, ..cross });
        assert_eq!(verdict.request, Decision::Allow, "{method}");
        assert_eq!(verdict.sign_in, Ok(()), "{method}");
    }
    for method in ["POST", "PUT", "PATCH", "DELETE", "PROPFIND", "get"] {
        let verdict = policy(&[]).check(&RequestFacts { method, ..cross });
        assert!(matches!(verdict.request, Decision::Refuse(_)), "{method}");
    }
    let off = CrossOriginPolicy::builder()
        .enabled(false)
        .build()
        .expect("valid");
    assert!(!off.is_enabled());
    assert!(policy(&[]).is_enabled(), "on by default");
    let verdict = off.check(&cross);
    assert_eq!(verdict.request, Decision::Allow);
    assert_eq!(verdict.sign_in, Ok(()));
}

#[test]
fn header_values_that_are_not_utf8_are_refused_not_a_panic() {
    let p = policy(&["https://admin.example.com"]);
    let facts = RequestFacts {
        origin: HeaderField::One(b"https://ex\xffample.com"),
        host: Some(b"ex\xffample.com"),
        ..post("example.com", None)
    };
    assert!(matches!(p.check(&facts).request, Decision::Refuse(_)));
    let facts = RequestFacts {
        sec_fetch_site: HeaderField::One(b"\xff"),
        ..facts
    };
    assert!(matches!(p.check(&facts).request, Decision::Refuse(_)));
}

#[test]
fn header_fields_are_absent_one_or_several() {
    assert_eq!(HeaderField::from_values([]), HeaderField::Absent);
    assert_eq!(
        HeaderField::from_values([&b"https://example.com"[..]]),
        HeaderField::One(b"https://example.com")
    );
    assert_eq!(
        HeaderField::from_values([&b"a"[..], b"b", b"c"]),
        HeaderField::Several
    );
}

#[test]
fn sec_fetch_site_values_parse_and_print_back() {
    for site in [
        SecFetchSite::SameOrigin,
        SecFetchSite::SameSite,
        SecFetchSite::CrossSite,
        SecFetchSite::None,
    ] {
        assert_eq!(SecFetchSite::parse(site.as_str().as_bytes()), Some(site));
    }
    assert_eq!(SecFetchSite::CrossSite.as_str(), "cross-site");
    assert_eq!(
        SecFetchSite::parse(b"cross-site"),
        Some(SecFetchSite::CrossSite)
    );
    assert_eq!(SecFetchSite::parse(b"Cross-Site"), None);
}

/// The reason is what the adapter logs for a refused request: fixed
/// words that say which rule refused it.
#[test]
fn refusals_say_which_rule_refused() {
    let p = policy(&[]);
    let reason = |facts: &RequestFacts<'_>| match p.check(facts).request {
        Decision::Refuse(refusal) => refusal.reason(),
        other => panic!("{other:?}"),
    };
    let several = RequestFacts {
        sec_fetch_site: HeaderField::Several,
        ..post("example.com", None)
    };
    assert_eq!(reason(&several), "several Sec-Fetch-Site headers");
    let cross = with_site(post("example.com", None), "cross-site");
    assert_eq!(reason(&cross), "Sec-Fetch-Site is not same-origin");
    let evil = post("example.com", Some("https://evil.com"));
    assert_eq!(reason(&evil), "cross-origin request");
    assert_eq!(
        Refusal("cross-origin request").to_string(),
        "cross-origin request"
    );
}

#[test]
fn an_invalid_allowed_origin_is_named_with_its_reason() {
    assert_eq!(
        CrossOriginPolicy::builder()
            .allow_origin("https://example.com/path")
            .build()
            .expect_err("a path"),
        PolicyError::InvalidOrigin {
            origin: "https://example.com/path".to_owned(),
            reason: "must be scheme://host[:port] with no path, query or fragment",
        }
    );
    assert_eq!(
        parse_origin(b"ftp://example.com")
            .expect_err("ftp")
            .reason(),
        "scheme must be http or https"
    );
}
