//! CloudWatch: metric alarms and dashboards.

mod dashboard;

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricAlarm as CwAlarm, Statistic, Tag,
};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::batch::{ReadBatch, ReadResult};
use super::idempotent::update_tags;
use super::{Aws, DataSourceImpl, ErrorContext, ResourceImpl, decode, found};

const ALARM: &str = "aws:cloudwatch/metricAlarm";

/// The CloudWatch resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[&AlarmImpl, &dashboard::DashboardImpl];

pub use dashboard::{Dashboard, DashboardArgs};

/// CloudWatch has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// The comparison operators an alarm on a static threshold may use.
pub const COMPARISON_OPERATORS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

/// The statistics an alarm may evaluate.
pub const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// How an alarm treats missing data points.
pub const TREAT_MISSING_DATA: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

/// Arguments of a metric alarm. Every argument but the name is updated in place
/// (PutMetricAlarm replaces the definition).
#[derive(Debug, Clone)]
pub struct MetricAlarmArgs {
    name: Input<String>,
    description: Input<String>,
    namespace: Input<String>,
    metric_name: Input<String>,
    statistic: Input<String>,
    period: Input<i32>,
    evaluation_periods: Input<i32>,
    threshold: Input<f64>,
    comparison_operator: Input<String>,
    treat_missing_data: Input<String>,
    dimensions: BTreeMap<String, Input<String>>,
    alarm_actions: Vec<Input<String>>,
    ok_actions: Vec<Input<String>>,
    tags: BTreeMap<String, Input<String>>,
}

impl MetricAlarmArgs {
    /// An alarm named `name` on `namespace`/`metric_name`: `statistic` over `period`
    /// seconds, compared with `threshold` by `comparison_operator`, for one period.
    pub fn new(
        name: impl Into<Input<String>>,
        namespace: impl Into<Input<String>>,
        metric_name: impl Into<Input<String>>,
        statistic: &str,
        comparison_operator: &str,
        threshold: impl Into<Input<f64>>,
    ) -> Self {
        MetricAlarmArgs {
            name: name.into(),
            description: Input::Value(String::new()),
            namespace: namespace.into(),
            metric_name: metric_name.into(),
            statistic: Input::Value(statistic.to_string()),
            period: Input::Value(300),
            evaluation_periods: Input::Value(1),
            threshold: threshold.into(),
            comparison_operator: Input::Value(comparison_operator.to_string()),
            treat_missing_data: Input::Value("missing".to_string()),
            dimensions: BTreeMap::new(),
            alarm_actions: Vec::new(),
            ok_actions: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    /// What the alarm watches for.
    pub fn description(mut self, text: impl Into<Input<String>>) -> Self {
        self.description = text.into();
        self
    }

    /// Seconds per evaluated period: 10, 30 or a multiple of 60.
    pub fn period(mut self, seconds: impl Into<Input<i32>>) -> Self {
        self.period = seconds.into();
        self
    }

    /// How many periods must breach before the alarm fires.
    pub fn evaluation_periods(mut self, n: impl Into<Input<i32>>) -> Self {
        self.evaluation_periods = n.into();
        self
    }

    /// `breaching`, `notBreaching`, `ignore` or `missing`.
    pub fn treat_missing_data(mut self, how: &str) -> Self {
        self.treat_missing_data = Input::Value(how.to_string());
        self
    }

    /// Narrows the metric to one dimension value (e.g. `FunctionName`).
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.dimensions.insert(name.into(), value.into());
        self
    }

    /// Notifies `arn` (an SNS topic) when the alarm fires.
    pub fn alarm_action(mut self, arn: impl Into<Input<String>>) -> Self {
        self.alarm_actions.push(arn.into());
        self
    }

    /// Notifies `arn` when the alarm returns to OK.
    pub fn ok_action(mut self, arn: impl Into<Input<String>>) -> Self {
        self.ok_actions.push(arn.into());
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

fn one_of(value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!("`{value}` is not one of {}", allowed.join(", ")))
    }
}

fn check_period(seconds: i32) -> Result<(), String> {
    if seconds == 10 || seconds == 30 || (seconds > 0 && seconds % 60 == 0) {
        Ok(())
    } else {
        Err(format!(
            "{seconds} is not 10, 30 or a multiple of 60 seconds"
        ))
    }
}

impl ResourceArgs for MetricAlarmArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["alarm_actions", "ok_actions"], &["dimensions"])
    }

    type Handle = MetricAlarm;

    fn type_token(&self) -> &'static str {
        ALARM
    }

    fn props(&self) -> Props {
        Props::new()
            .set("name", &self.name)
            .set("description", &self.description)
            .set("namespace", &self.namespace)
            .set("metric_name", &self.metric_name)
            .set("statistic", &self.statistic)
            .set("period", &self.period)
            .set("evaluation_periods", &self.evaluation_periods)
            .set("threshold", &self.threshold)
            .set("comparison_operator", &self.comparison_operator)
            .set("treat_missing_data", &self.treat_missing_data)
            .set("dimensions", &self.dimensions)
            .set("alarm_actions", &self.alarm_actions)
            .set("ok_actions", &self.ok_actions)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| crate::validate::length(n, 1, 255));
        errors.check("statistic", &self.statistic, |s| one_of(s, STATISTICS));
        errors.check("comparison_operator", &self.comparison_operator, |c| {
            one_of(c, COMPARISON_OPERATORS)
        });
        errors.check("treat_missing_data", &self.treat_missing_data, |t| {
            one_of(t, TREAT_MISSING_DATA)
        });
        errors.check("period", &self.period, |p| check_period(*p));
        errors.check("evaluation_periods", &self.evaluation_periods, |n| {
            if *n >= 1 {
                Ok(())
            } else {
                Err(format!("{n} must be at least 1"))
            }
        });
    }
}

handle! {
    /// A declared metric alarm.
    MetricAlarm {
        /// The alarm's ARN.
        arn: String,
        /// Its name (also its id).
        name: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct AlarmInputs {
    name: String,
    description: String,
    namespace: String,
    metric_name: String,
    statistic: String,
    period: i32,
    evaluation_periods: i32,
    threshold: f64,
    comparison_operator: String,
    treat_missing_data: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    #[serde(default)]
    alarm_actions: Vec<String>,
    #[serde(default)]
    ok_actions: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

fn check_inputs(inputs: &Value) -> Vec<(String, String)> {
    let mut invalid = Vec::new();
    let mut field = |name: &str, allowed: &[&str]| {
        if let Some(v) = inputs[name].as_str()
            && let Err(e) = one_of(v, allowed)
        {
            invalid.push((name.to_string(), e));
        }
    };
    field("statistic", STATISTICS);
    field("comparison_operator", COMPARISON_OPERATORS);
    field("treat_missing_data", TREAT_MISSING_DATA);
    if let Some(p) = inputs["period"].as_i64()
        && let Err(e) = check_period(p as i32)
    {
        invalid.push(("period".to_string(), e));
    }
    invalid
}

struct AlarmImpl;

impl AlarmImpl {
    async fn put(
        aws: &Aws,
        inputs: &AlarmInputs,
        tags: Option<Vec<Tag>>,
    ) -> Result<(), ProviderError> {
        let dimensions = inputs
            .dimensions
            .iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect();
        aws.cloudwatch()
            .await
            .put_metric_alarm()
            .alarm_name(&inputs.name)
            .alarm_description(&inputs.description)
            .namespace(&inputs.namespace)
            .metric_name(&inputs.metric_name)
            .statistic(Statistic::from(inputs.statistic.as_str()))
            .period(inputs.period)
            .evaluation_periods(inputs.evaluation_periods)
            .threshold(inputs.threshold)
            .comparison_operator(ComparisonOperator::from(
                inputs.comparison_operator.as_str(),
            ))
            .treat_missing_data(&inputs.treat_missing_data)
            .set_dimensions(Some(dimensions))
            .set_alarm_actions(Some(inputs.alarm_actions.clone()))
            .set_ok_actions(Some(inputs.ok_actions.clone()))
            .set_tags(tags)
            .send()
            .await
            .op("PutMetricAlarm")?;
        Ok(())
    }
}

fn cw_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

#[async_trait]
impl ResourceImpl for AlarmImpl {
    fn type_token(&self) -> &'static str {
        ALARM
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        check_inputs(inputs)
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: AlarmInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        // PutMetricAlarm is idempotent: a retry writes the same definition.
        Self::put(aws, &inputs, Some(cw_tags(&tags))).await?;
        // PutMetricAlarm answers nothing, but an alarm's ARN is made of its region, account
        // and name: no read back.
        let arn = format!(
            "arn:aws:cloudwatch:{}:{}:alarm:{}",
            aws.region_name(),
            aws.account_id().await?,
            inputs.name
        );
        Ok(CreateResponse {
            outputs: json!({ "arn": arn, "name": inputs.name }),
            id: inputs.name,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(&req.id, describe(aws, &req.id).await?))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let client = aws.cloudwatch().await;
        let names: Vec<String> = reqs.iter().map(|r| r.id.clone()).collect();
        let listed = batch
            .shared("cloudwatch:alarms", || describe_named(&client, &names))
            .await;
        let complete = |r: ReadRequest, a: CwAlarm| {
            let client = &client;
            async move { Ok(found(&r.id, Some(with_tags(aws, client, &r.id, &a).await?))) }
        };
        batch
            .pick_then(reqs, listed, complete, |r| self.read(aws, r))
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: AlarmInputs = decode(&req.old_inputs)?;
        let new: AlarmInputs = decode(&req.new_inputs)?;
        Self::put(aws, &new, None).await?;
        {
            let arn = req.old_outputs["arn"].as_str().unwrap_or_default();
            let client = &aws.cloudwatch().await;
            update_tags(
                aws,
                &req.ctx,
                &old.tags,
                &new.tags,
                |keys| async move {
                    client
                        .untag_resource()
                        .resource_arn(arn)
                        .set_tag_keys(Some(keys))
                        .send()
                        .await
                        .op("UntagResource")
                        .map(|_| ())
                },
                |tags| async move {
                    client
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(cw_tags(&tags)))
                        .send()
                        .await
                        .op("TagResource")
                        .map(|_| ())
                },
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        aws.cloudwatch()
            .await
            .delete_alarms()
            .alarm_names(&req.id)
            .send()
            .await
            .op("DeleteAlarms")?;
        Ok(())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["name"].as_str() else {
            return Ok(None);
        };
        Ok(found(name, describe(aws, name).await?))
    }
}

async fn describe(aws: &Aws, name: &str) -> Result<Option<(AlarmInputs, Value)>, ProviderError> {
    let client = aws.cloudwatch().await;
    let out = client
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .op("DescribeAlarms")?;
    let Some(a) = out.metric_alarms().first() else {
        return Ok(None);
    };
    Ok(Some(with_tags(aws, &client, name, a).await?))
}

/// An alarm's inputs and outputs: what DescribeAlarms said of it, and its tags (one call).
async fn with_tags(
    aws: &Aws,
    client: &aws_sdk_cloudwatch::Client,
    name: &str,
    a: &CwAlarm,
) -> Result<(AlarmInputs, Value), ProviderError> {
    let arn = a.alarm_arn().unwrap_or_default().to_string();
    let fetch = || async {
        Ok(client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .op("ListTagsForResource")?
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    };
    let tags: BTreeMap<String, String> = aws.tags_or(&arn, fetch).await?;
    Ok((
        AlarmInputs {
            name: name.to_string(),
            description: a.alarm_description().unwrap_or_default().to_string(),
            namespace: a.namespace().unwrap_or_default().to_string(),
            metric_name: a.metric_name().unwrap_or_default().to_string(),
            statistic: a
                .statistic()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            period: a.period().unwrap_or_default(),
            evaluation_periods: a.evaluation_periods().unwrap_or_default(),
            threshold: a.threshold().unwrap_or_default(),
            comparison_operator: a
                .comparison_operator()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            treat_missing_data: a.treat_missing_data().unwrap_or("missing").to_string(),
            dimensions: a
                .dimensions()
                .iter()
                .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
                .collect(),
            alarm_actions: a.alarm_actions().to_vec(),
            ok_actions: a.ok_actions().to_vec(),
            tags: aws.own_tags(tags),
        },
        json!({ "arn": arn, "name": name }),
    ))
}

/// The most alarm names one DescribeAlarms takes.
const NAMES_PER_CALL: usize = 100;

/// The alarms among `names`, by name: one DescribeAlarms per 100 names.
async fn describe_named(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<BTreeMap<String, CwAlarm>, ProviderError> {
    let mut all = BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let mut next: Option<String> = None;
        loop {
            let out = client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .set_next_token(next.take())
                .send()
                .await
                .op("DescribeAlarms")?;
            for a in out.metric_alarms() {
                all.insert(a.alarm_name().unwrap_or_default().to_string(), a.clone());
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => break,
            }
        }
    }
    Ok(all)
}
