//! Patterns for the empathy mechanisms and for what a reply does: act, inform, hand off, apologise,
//! dismiss. Written by the project; EPITOME was used to design and evaluate them.

use crate::{sentences, Finding, Level};
use rapport_text::Span;
use regex::Regex;

fn re(pattern: &str) -> Regex {
    // Patterns are constants of this module and covered by its tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

/// The apology pattern, compiled once for every user of it.
pub(crate) fn apology_pattern() -> &'static Regex {
    static APOLOGY: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    APOLOGY.get_or_init(|| re(r"(?i)\b(sorry|apologi[sz]e|apologies)\b"))
}

/// Compiled patterns.
#[derive(Debug)]
pub struct Mechanisms {
    reaction_strong: Regex,
    reaction_weak: Regex,
    interpretation_strong: Regex,
    interpretation_weak: Regex,
    first_person: Regex,
    agent_action: Regex,
    you: Regex,
    tag_question: Regex,
    invitation: Regex,
    wh_start: Regex,
    action_done: Regex,
    action_promised: Regex,
    instruction: Regex,
    steps: Regex,
    timeline: Regex,
    owner: Regex,
    handoff: Regex,
    information: Regex,
    problem: Regex,
    settled: Regex,
    dismissive: Regex,
    policy_only: Regex,
}

impl Default for Mechanisms {
    fn default() -> Self {
        Self::new()
    }
}

impl Mechanisms {
    pub fn new() -> Self {
        Self {
            reaction_strong: re(
                r"(?i)(\bsorry\b|\bhugs?\b|\(\(+|heart goes out|breaks my heart|i feel (for you|your pain|you)|proud of you|love you|so sad|that'?s (awful|terrible|horrible|heartbreaking|frustrating|upsetting)|my condolences|\bsad to hear|hurts to hear|i'?m (so |really )?glad|so glad|happy for you|<3|how (frustrating|upsetting|stressful|worrying|awful))",
            ),
            reaction_weak: re(
                r"(?i)(\bhope\b|good luck|best of luck|hang in there|don'?t give up|you'?re not alone|you are not alone|stay strong|you can do (it|this)|it'?s (ok|okay) (not )?to|feel free to|here for you|i'?m here|that sucks|\bsucks\b|\brough\b|\btough\b|oh no|\bdamn\b|\bwow\b|you (got|have got) this|it will get better|it gets better|things will get better|take care|you deserve|be kind to yourself|you matter|you'?re (worth|strong|brave)|i understand|i hear you|i appreciate|thank you for your patience|thanks for your patience)",
            ),
            interpretation_strong: re(
                r"(?i)(i('?ve| have) been (there|through)|i went through|i('?ve| have) had (the same|a similar|similar)|i (know|understand) (how|what|exactly|that feeling|the feeling)|i feel the same|same (here|thing|boat)|me too|i used to|i was (in|the same)|sounds like|it seems (like )?|i can (imagine|tell|relate|see (that|why|how))|i relate|i get (it|that|what)|when i was|my (own )?experience|happened to me|i also|i'?ve felt|i felt|i('?m| am) (also|in the same)|i struggle|i know the feel|i understand (that|why|how)|so you('?ve| have)|if i understand (you|correctly))",
            ),
            interpretation_weak: re(r"(?i)(must be|i know|i understand)"),
            first_person: re(r"(?i)\b(i|i'm|im|i've|ive|i'd|my|me|myself)\b"),
            agent_action: re(
                r"(?i)\b(i'll|i will|i can|i'd be happy|let me|i('ve| have) (just )?(sent|issued|refunded|processed|checked|escalated|forwarded|passed|arranged|booked|cancell?ed|updated|added|reset|raised|created|logged|credited|replaced|applied|requested|submitted|fixed|looked)|my (team|colleague|colleagues|manager)|i'm (sending|checking|looking|escalating|arranging|processing))\b",
            ),
            you: re(r"(?i)\b(you|your|yourself|u|ur|op)\b"),
            tag_question: re(r"(?i)^(.*\b)?(you know|right|ya know|yeah|eh|ok|okay|huh)\s*\?$"),
            invitation: re(r"(?i)(want|wanna|like) to (talk|vent|chat)|talk about it"),
            wh_start: re(r"(?i)^\s*(what|how|why|when|where|who|which)\b"),
            action_done: re(
                r"(?i)\b(has|have) been (shipped|dispatched|sent|refunded|processed|approved|cancell?ed|updated|credited|replaced|resolved|fixed|escalated|re-?issued)\b|\b(i|we)('ve| have)\s+(just\s+|now\s+|already\s+)?(re-?)?(issued|sent|issued|refunded|processed|escalated|forwarded|passed|arranged|booked|cancell?ed|updated|added|reset|raised|created|logged|credited|replaced|reshipped|resent|applied|requested|submitted|fixed|restored|unlocked|reactivated|changed|corrected|removed|blocked|emailed|called|scheduled|reversed|waived|extended|upgraded|opened|started|lodged|filed|flagged|chased|contacted|asked|ordered|looked up|checked)\b",
            ),
            action_promised: re(
                r"(?i)\b(i|we)('ll| will| am going to| are going to| can)\s+(now\s+|also\s+|personally\s+)?(send|issue|refund|process|escalate|forward|arrange|book|cancel|update|add|reset|raise|create|credit|replace|reship|resend|apply|request|submit|fix|restore|unlock|reactivate|change|correct|remove|call|email|check|look into|investigate|contact|follow up|get back|transfer|connect|schedule|reverse|waive|extend|upgrade)\b",
            ),
            instruction: re(
                r"(?im)(^|[.!?:]\s+)(please\s+|just\s+|simply\s+)?(click|tap|go to|open|select|choose|restart|reinstall|update|enter|type|reply|send us|log in|sign in|visit|call us|try|check|follow|use|turn|press|reset|clear|download|install|unplug|hold|scan|upload|forward us)\b",
            ),
            steps: re(r"(?im)(^\s*(\d+[.)]|step \d|[-*•] )|https?://\S+)"),
            timeline: re(
                r"(?i)\b(within \d+|in (the next )?\d+(\s*[-–]\s*\d+)? (minutes?|hours?|days?|business days|working days|weeks?)|by (monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|the end of|end of)|today|tomorrow|tonight|this (morning|afternoon|evening|week)|next (week|monday|tuesday|wednesday|thursday|friday)|right away|straight away|immediately|shortly|as soon as|within the (hour|day|week)|\d+\s*[-–]\s*\d+ (business |working )?days|24 hours|48 hours|on (monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
            ),
            owner: re(
                r"(?i)\b(i|we|our (team|billing team|support team|technical team|warehouse)|a specialist|my colleague|the courier)\b",
            ),
            handoff: re(
                r"(?i)\b(transfer(ring)? you|connect(ing)? you (to|with)|pass(ing)? (this|you|your case|it) (on )?to|a (human|live|real) (agent|person)|one of (my|our) colleagues|a colleague|a specialist|escalat(e|ed|ing)|call you back|team will (contact|call|reach|email|get back))",
            ),
            information: re(
                r"(?i)\b(you can|you('ll| will) need to|the reason|because|this happens|it (usually )?takes|our (refund|return|delivery|shipping|cancellation) (policy|window|time)|is (due|scheduled|expected)|will arrive|arrives|is on its way|has been (shipped|dispatched|delivered|approved))\b",
            ),
            problem: re(
                r"(?i)(\?|\b(not|no|never|still|broken|wrong|missing|late|lost|issue|problem|error|fail(ed|s|ing)?|refund|charged|cancel(l?ed)?|help|can'?t|cannot|won'?t|doesn'?t|didn'?t|isn'?t|hasn'?t|where|why|how|need|urgent|complain|damaged|stuck|crash(es|ed|ing)?|declined|down|slow|freez(es|ing)|stopped|nobody|without|again)\b|n't\b)",
            ),
            settled: re(
                r"(?i)^\s*(thanks?( you)?( so much)?|great|perfect|awesome|cheers|that (worked|fixed it|did it)|all good|sorted)\b[^?]*$",
            ),
            dismissive: re(
                r"(?i)\b(calm down|as i (already |previously )?(said|mentioned|explained|stated)|as (previously|already) (stated|mentioned|explained)|you should have|you should've|you must have|that'?s not our (problem|fault|responsibility)|there'?s nothing (i|we) can do|nothing (i|we) can do|it'?s your (fault|responsibility)|you need to understand|obviously|clearly you|read the (faq|manual|terms)|like i said|i already told you|not my problem|you failed to|your fault)\b",
            ),
            policy_only: re(
                r"(?i)\b((as )?per (our )?(company )?policy|(it'?s|that'?s|this is) (our|company) policy|our policy (is|states|does not allow))\b",
            ),
        }
    }

    fn spans(regex: &Regex, text: &str) -> Vec<Span> {
        regex
            .find_iter(text)
            .map(|m| Span::new(m.start(), m.end()))
            .collect()
    }

    /// Emotional reaction, interpretation and exploration of a reply.
    pub fn levels(&self, reply: &str) -> [Level; 3] {
        let leveled = |strong: &Regex, weak: &Regex| {
            let spans = Self::spans(strong, reply);
            if !spans.is_empty() {
                return Level { level: 2, spans };
            }
            let spans = Self::spans(weak, reply);
            Level {
                level: u8::from(!spans.is_empty()),
                spans,
            }
        };
        let reaction = leveled(&self.reaction_strong, &self.reaction_weak);
        let mut interpretation = leveled(&self.interpretation_strong, &self.interpretation_weak);
        if interpretation.level < 2 {
            // Sharing one's own experience ("I had the same with my bank") is the interpretation peers
            // show; the agent's own actions ("I've refunded", "I'll check") are not.
            let personal = self.first_person.find_iter(reply).count();
            let actions = self.agent_action.find_iter(reply).count() * 2;
            if personal.saturating_sub(actions) >= 2 {
                interpretation = Level {
                    level: 2,
                    spans: sentences(reply)
                        .into_iter()
                        .filter(|s| self.first_person.is_match(&reply[s.start..s.end]))
                        .collect(),
                };
            }
        }
        [reaction, interpretation, self.exploration(reply)]
    }

    /// Questions about the other person are strong exploration; other open questions and invitations to
    /// talk are weak; tag questions ("you know?") are none.
    fn exploration(&self, reply: &str) -> Level {
        let (mut strong, mut weak) = (Vec::new(), Vec::new());
        for s in sentences(reply) {
            let sentence = &reply[s.start..s.end];
            if !sentence.ends_with('?') {
                continue;
            }
            if sentence.len() < 25 && self.tag_question.is_match(sentence) {
                continue;
            }
            if self.invitation.is_match(sentence) {
                weak.push(s);
            } else if self.you.is_match(sentence) && sentence.len() > 8 {
                strong.push(s);
            } else if self.wh_start.is_match(sentence) {
                weak.push(s);
            }
        }
        if !strong.is_empty() {
            Level {
                level: 2,
                spans: strong,
            }
        } else {
            Level {
                level: u8::from(!weak.is_empty()),
                spans: weak,
            }
        }
    }

    /// A concrete next step (0.5), its owner (0.25, only with a step) and its timeline (0.25).
    pub fn actionability(&self, reply: &str) -> f32 {
        let step = self.action_done.is_match(reply)
            || self.action_promised.is_match(reply)
            || self.instruction.is_match(reply)
            || self.steps.is_match(reply);
        let owner = step && self.owner.is_match(reply);
        let timeline = self.timeline.is_match(reply);
        0.5 * f32::from(u8::from(step))
            + 0.25 * f32::from(u8::from(owner))
            + 0.25 * f32::from(u8::from(timeline))
    }

    /// What the reply does: an action taken, an action promised, a timeline.
    pub(crate) fn acts(&self, reply: &str) -> [bool; 3] {
        [
            self.action_done.is_match(reply),
            self.action_promised.is_match(reply),
            self.timeline.is_match(reply),
        ]
    }

    pub fn is_handoff(&self, reply: &str) -> bool {
        self.handoff.is_match(reply)
    }

    pub fn gives_information(&self, reply: &str) -> bool {
        self.information.is_match(reply)
    }

    pub fn apology_spans(&self, text: &str) -> Vec<Span> {
        Self::spans(apology_pattern(), text)
    }

    pub fn apologies(&self, text: &str) -> usize {
        apology_pattern().find_iter(text).count()
    }

    /// Whether the customer's message still has a problem to solve (not a plain thank-you).
    pub fn problem_is_open(&self, customer: &str) -> bool {
        !customer.trim().is_empty()
            && !self.settled.is_match(customer)
            && self.problem.is_match(customer)
    }

    /// Dismissive or blaming phrases; "per our policy" counts only when no alternative is offered.
    pub fn dismissive(&self, reply: &str, actionability: f32) -> Vec<Finding> {
        let mut found: Vec<Finding> = self
            .dismissive
            .find_iter(reply)
            .map(|m| Finding {
                text: m.as_str().to_string(),
                span: Span::new(m.start(), m.end()),
            })
            .collect();
        if actionability < 0.5 {
            found.extend(self.policy_only.find_iter(reply).map(|m| Finding {
                text: m.as_str().to_string(),
                span: Span::new(m.start(), m.end()),
            }));
        }
        found
    }
}
