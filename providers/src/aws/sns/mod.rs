//! SNS: topics (where alarms send their notifications).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::none_if_not_found;
use super::idempotent::update_tags;
use super::{Aws, DataSourceImpl, ErrorContext, ResourceImpl, decode, found};

const TOPIC: &str = "aws:sns/topic";

/// The SNS resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[&TopicImpl];

/// SNS has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// Arguments of a topic.
#[derive(Debug, Clone)]
pub struct TopicArgs {
    name: Input<String>,
    display_name: Input<String>,
    kms_master_key_id: Option<Input<String>>,
    tags: BTreeMap<String, Input<String>>,
}

impl TopicArgs {
    /// A standard topic named `name`.
    pub fn new(name: impl Into<Input<String>>) -> Self {
        TopicArgs {
            name: name.into(),
            display_name: Input::Value(String::new()),
            kms_master_key_id: None,
            tags: BTreeMap::new(),
        }
    }

    /// The name shown in SMS and email notifications.
    pub fn display_name(mut self, text: impl Into<Input<String>>) -> Self {
        self.display_name = text.into();
        self
    }

    /// Encrypts messages at rest with `key`.
    pub fn kms_master_key_id(mut self, key: impl Into<Input<String>>) -> Self {
        self.kms_master_key_id = Some(key.into());
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// Topic names: 1 to 256 letters, digits, `_` or `-` (FIFO topics end in `.fifo`).
fn check_topic_name(name: &str) -> Result<(), String> {
    crate::validate::length(name, 1, 256)?;
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    match stem
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-".contains(*c)))
    {
        Some(c) => Err(format!(
            "`{name}` has `{c}`; topic names allow letters, digits, _ and -"
        )),
        None => Ok(()),
    }
}

impl ResourceArgs for TopicArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["kms_master_key_id"], &[])
    }

    type Handle = Topic;

    fn type_token(&self) -> &'static str {
        TOPIC
    }

    fn props(&self) -> Props {
        Props::new()
            .set("name", &self.name)
            .set("display_name", &self.display_name)
            .set("kms_master_key_id", &self.kms_master_key_id)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| check_topic_name(n));
    }
}

handle! {
    /// A declared topic.
    Topic {
        /// The topic's ARN (also its id).
        arn: String,
        /// Its name.
        name: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct TopicInputs {
    name: String,
    display_name: String,
    #[serde(default)]
    kms_master_key_id: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

fn sns_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

struct TopicImpl;

#[async_trait]
impl ResourceImpl for TopicImpl {
    fn type_token(&self) -> &'static str {
        TOPIC
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        match inputs["name"].as_str().map(check_topic_name) {
            Some(Err(e)) => vec![("name".into(), e)],
            _ => Vec::new(),
        }
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: TopicInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let client = aws.sns().await;
        // CreateTopic is idempotent by name: a retry returns the same topic.
        let mut call = client
            .create_topic()
            .name(&inputs.name)
            .set_tags(Some(sns_tags(&tags)));
        if !inputs.display_name.is_empty() {
            call = call.attributes("DisplayName", &inputs.display_name);
        }
        if let Some(key) = &inputs.kms_master_key_id {
            call = call.attributes("KmsMasterKeyId", key);
        }
        let arn = call
            .send()
            .await
            .op("CreateTopic")?
            .topic_arn()
            .unwrap_or_default()
            .to_string();
        Ok(CreateResponse {
            outputs: json!({ "arn": arn, "name": inputs.name }),
            id: arn,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(&req.id, describe(aws, &req.id).await?))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: TopicInputs = decode(&req.old_inputs)?;
        let new: TopicInputs = decode(&req.new_inputs)?;
        let client = aws.sns().await;
        let set = |name: &'static str, value: String| {
            client
                .set_topic_attributes()
                .topic_arn(&req.id)
                .attribute_name(name)
                .attribute_value(value)
                .send()
        };
        if old.display_name != new.display_name {
            set("DisplayName", new.display_name.clone())
                .await
                .op("SetTopicAttributes")?;
        }
        if old.kms_master_key_id != new.kms_master_key_id {
            set(
                "KmsMasterKeyId",
                new.kms_master_key_id.clone().unwrap_or_default(),
            )
            .await
            .op("SetTopicAttributes")?;
        }
        let (client, id) = (&client, req.id.as_str());
        update_tags(
            aws,
            &req.ctx,
            &old.tags,
            &new.tags,
            |keys| async move {
                client
                    .untag_resource()
                    .resource_arn(id)
                    .set_tag_keys(Some(keys))
                    .send()
                    .await
                    .op("UntagResource")
                    .map(|_| ())
            },
            |tags| async move {
                client
                    .tag_resource()
                    .resource_arn(id)
                    .set_tags(Some(sns_tags(&tags)))
                    .send()
                    .await
                    .op("TagResource")
                    .map(|_| ())
            },
        )
        .await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .sns()
            .await
            .delete_topic()
            .topic_arn(&req.id)
            .send()
            .await
            .op("DeleteTopic");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["name"].as_str() else {
            return Ok(None);
        };
        let client = aws.sns().await;
        let mut next = None;
        loop {
            let page = client
                .list_topics()
                .set_next_token(next)
                .send()
                .await
                .op("ListTopics")?;
            if let Some(arn) = page
                .topics()
                .iter()
                .filter_map(|t| t.topic_arn())
                .find(|arn| arn.rsplit(':').next() == Some(name))
            {
                return Ok(found(arn, describe(aws, arn).await?));
            }
            match page.next_token() {
                Some(token) => next = Some(token.to_string()),
                None => return Ok(None),
            }
        }
    }
}

async fn describe(aws: &Aws, arn: &str) -> Result<Option<(TopicInputs, Value)>, ProviderError> {
    let client = aws.sns().await;
    let Some(attrs) = none_if_not_found(
        client
            .get_topic_attributes()
            .topic_arn(arn)
            .send()
            .await
            .op("GetTopicAttributes"),
    )?
    else {
        return Ok(None);
    };
    let attrs = attrs.attributes().cloned().unwrap_or_default();
    let fetch = || async {
        Ok(client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .op("ListTagsForResource")?
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    };
    let tags: BTreeMap<String, String> = aws.tags_or(arn, fetch).await?;
    let name = arn.rsplit(':').next().unwrap_or_default().to_string();
    Ok(Some((
        TopicInputs {
            name: name.clone(),
            display_name: attrs.get("DisplayName").cloned().unwrap_or_default(),
            kms_master_key_id: attrs
                .get("KmsMasterKeyId")
                .filter(|k| !k.is_empty())
                .cloned(),
            tags: aws.own_tags(tags),
        },
        json!({ "arn": arn, "name": name }),
    )))
}
