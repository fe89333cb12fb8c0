//! Messaging delivery feedback: status rules, Postmark records, Twilio callbacks.
