-- Bronze: the app's JSON lines, each file once (by name).
{{ config(materialized='incremental') }}
select order_id, customer_id, category, amount, status, updated_at,
       filename as _file, cast('{{ run_started_at }}' as timestamp) as _loaded_at
from read_json('{{ var("landing") }}/app_events_*.jsonl', format = 'newline_delimited',
     filename = true,
     columns = {'order_id': 'BIGINT', 'customer_id': 'BIGINT', 'category': 'VARCHAR',
                'amount': 'DOUBLE', 'status': 'VARCHAR', 'updated_at': 'TIMESTAMP'})
{% if is_incremental() %}
where filename not in (select distinct _file from {{ this }})
{% endif %}
