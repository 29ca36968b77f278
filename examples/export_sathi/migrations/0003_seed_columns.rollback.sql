-- Back to 0002's columns and value sets. A row with a value 0002 cannot hold (a report
-- that 'failed') stops it, with the constraint at fault, as the forward does; the seed's
-- business types and company sizes map back. Locks: as the forward says.
-- squawk-ignore-file constraint-missing-not-valid, renaming-column, ban-drop-default
alter table user_metrics
    drop column documents_generated,
    drop column exports_completed,
    drop column timeline_reduction_days,
    drop column last_export_date,
    drop column created_at,
    drop column updated_at;
alter table user_metrics rename column cost_savings to estimated_cost_savings;

alter table logistics_analysis
    drop column user_id,
    drop column route_analysis,
    drop column insurance_recommendation,
    drop column updated_at;

alter table finance_analysis
    drop column user_id,
    drop column pre_shipment_credit_data,
    drop column cash_flow_timeline,
    drop column financing_options,
    drop column updated_at;

alter table chat_messages drop constraint chat_messages_role_check;
alter table chat_messages
    add constraint chat_messages_role_check check (role in ('user', 'assistant', 'system'));

alter table chat_sessions drop column expires_at, alter column last_activity drop default;
alter table chat_sessions rename column last_activity to last_message_at;

alter table action_plan_progress drop column task_description, drop column task_category;

alter table generated_documents
    drop column pdf_url,
    drop column editable_url,
    drop column is_valid,
    drop column updated_at;
alter table generated_documents rename column document_data to content;

alter table certification_progress
    drop constraint certification_progress_certification_type_present,
    drop column certification_type,
    drop column notes;

alter table reports
    drop constraint reports_status_check,
    drop column product_image_url,
    drop column ingredients,
    drop column bom,
    drop column business_type,
    drop column company_size,
    drop column monthly_volume,
    drop column price_range,
    drop column payment_mode,
    drop column hs_code_confidence;
update reports set status = 'draft' where status = 'processing';
alter table reports alter column status set default 'draft';
alter table reports
    add constraint reports_status_check check (status in ('draft', 'completed', 'archived'));
alter table reports rename column estimated_timeline_days to timeline_days;

alter table users
    drop constraint users_password_hash_present,
    drop constraint users_business_type_check,
    drop constraint users_company_size_check,
    drop column password_hash,
    drop column monthly_volume,
    drop column last_login;
update users set business_type = case business_type when 'Manufacturing' then 'manufacturer'
                                                    when 'Merchant' then 'merchant'
                                                    when 'SaaS' then 'service_provider'
                                                    else business_type end,
                 company_size = lower(company_size);
alter table users
    add constraint users_business_type_check
        check (business_type in ('manufacturer', 'merchant', 'service_provider')),
    add constraint users_company_size_check
        check (company_size in ('micro', 'small', 'medium', 'large'));
