-- depends: 0002_chat_and_analysis
-- The columns and value sets of the seed's own schema (ExportSathi's schema.sql and
-- models.py), on the tables 0001 and 0002 made with fewer. Existing rows are carried
-- over: values map to the seed's equivalents, a report takes its owner's business type
-- and size, an analysis its report's user. Two columns the seed requires have no value
-- to carry over (a user's password hash, a certification's type): a CHECK ... NOT VALID
-- requires it of every row inserted or updated from now on and keeps the rows from
-- before as they are (updating one means giving it a value). Once all have one,
-- `alter table users validate constraint users_password_hash_present` (and
-- certification_progress_certification_type_present) makes it hold for every row.
-- A value with no seed equivalent (a company size of 'large', a report 'archived', a
-- 'system' chat message) stops the migration, naming the constraint; nothing is applied.
-- Locks: most statements here scan or rewrite a table while holding a lock that blocks
-- writes to it (value sets checked at once, NOT NULL set, columns renamed, foreign keys
-- added). The tables hold a few rows per report or per user, so each scan is short, and
-- checking the value sets of the old rows now is what this migration is for.
-- squawk-ignore-file ban-drop-constraint, constraint-missing-not-valid, adding-not-nullable-field, renaming-column, adding-foreign-key-constraint

-- users: the seed's password hash, monthly volume and last login; its value sets.
alter table users
    add column password_hash text,
    add column monthly_volume integer check (monthly_volume >= 0),
    add column last_login timestamptz;
alter table users drop constraint users_business_type_check,
                  drop constraint users_company_size_check;
update users set business_type = case business_type when 'manufacturer' then 'Manufacturing'
                                                    when 'merchant' then 'Merchant'
                                                    when 'service_provider' then 'SaaS'
                                                    else business_type end,
                 company_size = initcap(company_size);
alter table users
    add constraint users_business_type_check
        check (business_type in ('Manufacturing', 'SaaS', 'Merchant')),
    add constraint users_company_size_check
        check (company_size in ('Micro', 'Small', 'Medium')),
    -- After the update above, which the old rows, without a hash, would fail.
    add constraint users_password_hash_present check (password_hash is not null) not valid;

-- reports: the product's details, the business it was made for, HS code confidence.
alter table reports rename column timeline_days to estimated_timeline_days;
alter table reports
    add column product_image_url text,
    add column ingredients text,
    add column bom text,
    add column business_type text,
    add column company_size text,
    add column monthly_volume integer check (monthly_volume >= 0),
    add column price_range text,
    add column payment_mode text,
    add column hs_code_confidence numeric(5, 2) check (hs_code_confidence between 0 and 100);
-- A report records the business as it was when the report was made: its owner's today.
update reports r set business_type = u.business_type, company_size = u.company_size
  from users u where u.id = r.user_id;
alter table reports alter column business_type set not null,
                    alter column company_size set not null;
alter table reports drop constraint reports_status_check;
update reports set status = 'processing' where status = 'draft';
alter table reports alter column status set default 'completed';
alter table reports
    add constraint reports_status_check check (status in ('processing', 'completed', 'failed')),
    add constraint reports_business_type_check
        check (business_type in ('Manufacturing', 'SaaS', 'Merchant')),
    add constraint reports_company_size_check
        check (company_size in ('Micro', 'Small', 'Medium'));

-- certification_progress: the certification's type and the user's notes.
alter table certification_progress
    add column certification_type text,
    add column notes text;
alter table certification_progress
    add constraint certification_progress_certification_type_present
        check (certification_type is not null) not valid;

-- generated_documents: the document's data, its PDF and editable copies, validity.
alter table generated_documents rename column content to document_data;
alter table generated_documents
    add column pdf_url text,
    add column editable_url text,
    add column is_valid boolean not null default false,
    add column updated_at timestamptz not null default now();

-- action_plan_progress: a task's description and category.
alter table action_plan_progress
    add column task_description text,
    add column task_category text;

-- chat_sessions: the seed's last activity and expiry.
alter table chat_sessions rename column last_message_at to last_activity;
alter table chat_sessions
    alter column last_activity set default now(),
    add column expires_at timestamptz;

-- chat_messages: the seed's two roles.
alter table chat_messages drop constraint chat_messages_role_check;
alter table chat_messages
    add constraint chat_messages_role_check check (role in ('user', 'assistant'));

-- finance_analysis: its user, pre-shipment credit, cash-flow timeline, financing options.
alter table finance_analysis
    add column user_id uuid references users (id) on delete cascade,
    add column pre_shipment_credit_data jsonb,
    add column cash_flow_timeline jsonb,
    add column financing_options jsonb,
    add column updated_at timestamptz not null default now();
update finance_analysis f set user_id = r.user_id from reports r where r.id = f.report_id;
alter table finance_analysis alter column user_id set not null;

-- logistics_analysis: its user, route analysis and insurance recommendation.
alter table logistics_analysis
    add column user_id uuid references users (id) on delete cascade,
    add column route_analysis jsonb,
    add column insurance_recommendation jsonb,
    add column updated_at timestamptz not null default now();
update logistics_analysis l set user_id = r.user_id from reports r where r.id = l.report_id;
alter table logistics_analysis alter column user_id set not null;

-- user_metrics: documents, exports, cost savings, time saved, last export.
alter table user_metrics rename column estimated_cost_savings to cost_savings;
alter table user_metrics
    add column documents_generated integer not null default 0 check (documents_generated >= 0),
    add column exports_completed integer not null default 0 check (exports_completed >= 0),
    add column timeline_reduction_days integer not null default 0,
    add column last_export_date timestamptz,
    add column created_at timestamptz not null default now(),
    add column updated_at timestamptz not null default now();
