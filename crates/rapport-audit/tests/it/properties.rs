//! The audit never panics, and its numbers and spans stay in range, whatever the texts.

use proptest::prelude::*;
use rapport_audit::{Auditor, Policy, Role, Turn};
use std::sync::OnceLock;

fn auditor() -> &'static Auditor {
    static AUDITOR: OnceLock<Auditor> = OnceLock::new();
    AUDITOR.get_or_init(Auditor::new)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_texts_audit_safely(customer in any::<String>(), reply in any::<String>(), earlier in any::<String>()) {
        let history = [Turn { role: Role::Bot, text: earlier }];
        match auditor().audit(&customer, &reply, &history, &Policy::default()) {
            Ok(audit) => {
                prop_assert!(audit.score <= 100);
                prop_assert!((0.0..=1.0).contains(&audit.actionability));
                prop_assert!((0.0..=1.0).contains(&audit.specificity));
                for level in [&audit.emotional_reaction, &audit.interpretation, &audit.exploration] {
                    prop_assert!(level.level <= 2);
                    for span in &level.spans {
                        prop_assert!(span.end <= reply.len() && reply.is_char_boundary(span.start) && reply.is_char_boundary(span.end));
                    }
                }
            }
            Err(_) => prop_assert!(reply.trim().is_empty() || reply.len() > rapport_audit::MAX_REPLY_BYTES),
        }
    }

    #[test]
    fn reply_like_texts_audit_safely(reply in "([A-Za-z']{1,9}|[ ,.!?]{1,2}|é|😊|\u{2019}|£[0-9]{1,3}){1,40}") {
        let audit = auditor().audit("My order is late?", &reply, &[], &Policy::default());
        prop_assert!(audit.is_ok() || reply.trim().is_empty());
    }
}
