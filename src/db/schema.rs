// Table definitions shared by both backends (see migrations/).

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        organisation_id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        password_changed_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_generation -> BigInt,
        kind -> Text,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(users -> organisations (organisation_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(organisations, users, refresh_tokens);

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends for ASCII.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::table! {
    missions (id) {
        id -> Text,
        name -> Text,
        country -> Text,
        mandate_start -> Date,
        mandate_end -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    bases (id) {
        id -> Text,
        mission_id -> Text,
        name -> Text,
        latitude -> Double,
        longitude -> Double,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deployments (id) {
        id -> Text,
        base_id -> Text,
        start_date -> Date,
        end_date -> Nullable<Date>,
        troop_count -> Integer,
        contributing_country -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    incidents (id) {
        id -> Text,
        mission_id -> Text,
        base_id -> Nullable<Text>,
        base_distance_km -> Nullable<Double>,
        status -> Text,
        version -> Integer,
        reporter_id -> Text,
        organisation_id -> Text,
        occurred_at -> Timestamp,
        latitude -> Double,
        longitude -> Double,
        location_precision -> Nullable<Text>,
        venue -> Nullable<Text>,
        victim_count -> Integer,
        source_type -> Nullable<Text>,
        source_reliability -> Nullable<Text>,
        source_credibility -> Nullable<Integer>,
        content -> Text,
        content_hash -> Text,
        narrative -> Nullable<Text>,
        consent_assessment -> Text,
        computed_assessment -> Text,
        assessment_indicators -> Text,
        assessment_override_reason -> Nullable<Text>,
        synthetic -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        submitted_at -> Nullable<Timestamp>,
        narrative_key_id -> Nullable<Text>,
        content_hash_key_id -> Nullable<Text>,
        assessment_override_reason_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        at -> Timestamp,
        email -> Text,
        address -> Text,
        in_flight -> Bool,
    }
}

diesel::table! {
    incident_exploitation_types (incident_id, exploitation_type) {
        incident_id -> Text,
        exploitation_type -> Text,
    }
}

diesel::table! {
    incident_events (id) {
        id -> Text,
        incident_id -> Text,
        at -> Timestamp,
        actor_id -> Text,
        kind -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        comment -> Nullable<Text>,
        version -> Integer,
        changed_fields -> Nullable<Text>,
        comment_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        action -> Text,
        entity_type -> Nullable<Text>,
        entity_id -> Nullable<Text>,
        details -> Text,
        request_id -> Nullable<Text>,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::joinable!(bases -> missions (mission_id));
diesel::joinable!(deployments -> bases (base_id));
diesel::joinable!(incidents -> missions (mission_id));
diesel::table! {
    changes (position) {
        position -> BigInt,
        incident_id -> Text,
        kind -> Text,
        version -> Integer,
        at -> Timestamp,
        actor_id -> Text,
    }
}

diesel::joinable!(incident_events -> incidents (incident_id));
diesel::joinable!(changes -> incidents (incident_id));
diesel::allow_tables_to_appear_in_same_query!(
    missions,
    bases,
    deployments,
    incidents,
    incident_exploitation_types,
    incident_events,
    audit_log,
    changes
);

diesel::table! {
    incident_perpetrator_affiliations (incident_id, affiliation) {
        incident_id -> Text,
        affiliation -> Text,
    }
}

diesel::table! {
    audit_refusal_tally (address, minute) {
        address -> Text,
        minute -> Timestamp,
        refusals -> BigInt,
        first_id -> Text,
        first_at -> Timestamp,
        request_id -> Nullable<Text>,
        method -> Text,
        route -> Text,
        path -> Text,
        path_length -> Integer,
        status -> Integer,
    }
}

diesel::table! {
    releases (id) {
        id -> Text,
        month -> Text,
        built_at -> Timestamp,
        epsilon -> Double,
        mechanism -> Text,
        parameters -> Text,
    }
}

diesel::table! {
    release_cells (month, mission_id, dimension, value) {
        release_id -> Text,
        month -> Text,
        mission_id -> Text,
        dimension -> Text,
        value -> Text,
        incidents -> BigInt,
        victims -> Nullable<BigInt>,
    }
}

diesel::table! {
    service_accounts (id) {
        id -> Text,
        scopes -> Text,
        created_by -> Text,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    service_account_secrets (id) {
        id -> Text,
        account_id -> Text,
        secret_hash -> Text,
        hint -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    client_request_windows (client_id, window_start) {
        client_id -> Text,
        window_start -> BigInt,
        requests -> BigInt,
    }
}

diesel::table! {
    attachments (id) {
        id -> Text,
        incident_id -> Text,
        media_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        removed -> Text,
        file_name -> Nullable<Text>,
        key_id -> Text,
        salt -> Text,
        chunks -> Integer,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
    }
}

diesel::table! {
    attachment_chunks (attachment_id, seq) {
        attachment_id -> Text,
        seq -> Integer,
        data -> Binary,
    }
}

diesel::table! {
    removed_attachments (id) {
        id -> Text,
        incident_id -> Text,
        removed_at -> Timestamp,
    }
}

diesel::joinable!(attachment_chunks -> attachments (attachment_id));
diesel::joinable!(attachments -> incidents (incident_id));
diesel::allow_tables_to_appear_in_same_query!(attachments, attachment_chunks);
diesel::allow_tables_to_appear_in_same_query!(attachments, incidents);
diesel::joinable!(removed_attachments -> incidents (incident_id));
diesel::allow_tables_to_appear_in_same_query!(removed_attachments, incidents);

diesel::joinable!(service_accounts -> users (id));
diesel::joinable!(service_account_secrets -> service_accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(service_accounts, service_account_secrets);
diesel::allow_tables_to_appear_in_same_query!(service_accounts, users);
diesel::allow_tables_to_appear_in_same_query!(service_accounts, organisations);
diesel::allow_tables_to_appear_in_same_query!(service_account_secrets, users);
diesel::allow_tables_to_appear_in_same_query!(service_account_secrets, organisations);
diesel::allow_tables_to_appear_in_same_query!(audit_log, users);

diesel::table! {
    webhook_subscriptions (id) {
        id -> Text,
        organisation_id -> Text,
        role -> Text,
        owner_id -> Text,
        url -> Text,
        events -> Text,
        description -> Nullable<Text>,
        secret -> Text,
        secret_key_id -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_key_id -> Nullable<Text>,
        previous_expires_at -> Nullable<Timestamp>,
        paused -> Bool,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        failure_streak -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        subscription_id -> Text,
        event_type -> Text,
        incident_id -> Nullable<Text>,
        position -> Nullable<BigInt>,
        change_kind -> Nullable<Text>,
        version -> Nullable<Integer>,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        occurred_at -> Timestamp,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        subscription_id -> Text,
        attempt -> Integer,
        at -> Timestamp,
        outcome -> Text,
        response_status -> Nullable<Integer>,
        latency_ms -> Nullable<BigInt>,
        error -> Nullable<Text>,
        response_excerpt -> Nullable<Text>,
    }
}

diesel::joinable!(webhook_subscriptions -> users (owner_id));
diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_subscriptions, users);
diesel::allow_tables_to_appear_in_same_query!(webhook_subscriptions, webhook_deliveries);
diesel::allow_tables_to_appear_in_same_query!(webhook_subscriptions, webhook_attempts);
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, webhook_attempts);
diesel::allow_tables_to_appear_in_same_query!(webhook_subscriptions, service_accounts);
