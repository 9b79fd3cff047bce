"""The public names of every public module of ``edgesight``, pinned (changing them is an API change).

Every module whose name does not start with ``_`` declares ``__all__``; a name leaves or joins the
public API only together with an edit of ``EXPORTS``. Private modules (``core/wire/_binary.py``)
are reached through their package's ``__all__`` and are not pinned here.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from support import REPO

PACKAGE = REPO / "src" / "edgesight"

EXPORTS = {
    "edgesight": ["AnalyticsConfig", "ConfigError", "Detections", "DeviceConfig", "EdgeSightError",
        "Event", "EventType", "ExitCode", "FrameContext", "FrameMeta", "InputError", "Intrinsics",
        "ModelLoadError", "ModelPackage", "ModelRef", "PackageTrustError", "Region", "SchemaError",
        "SourceEndedError", "SourceError", "StorageError", "UnsupportedVersionError", "__version__",
        "load_config", "parse_config", "read_package"],
    "edgesight.agent": [],
    "edgesight.agent.batching": ["Batch", "Batcher"],
    "edgesight.agent.commands": ["COMMANDS", "CommandHandler", "CommandOutcome", "PRIVACY_REFUSAL"],
    "edgesight.agent.credentials": ["Credentials", "MIN_SECRET_BYTES", "load_credentials", "parse_broker",
        "parse_credentials", "parse_hub_url"],
    "edgesight.agent.downlink_guard": ["DownlinkGuard"],
    "edgesight.agent.feeds": ["FrameFeed", "SensorFeed", "SwappableFeed"],
    "edgesight.agent.heartbeat": ["HeartbeatClock"],
    "edgesight.agent.inspection_twin": ["TwinFollower"],
    "edgesight.agent.model_fetch": ["download_model"],
    "edgesight.agent.model_refusals": ["MAX_ENTRIES", "Refusals"],
    "edgesight.agent.model_rollout": ["Fetch", "Home", "ModelRollout"],
    "edgesight.agent.outbox": ["DEFAULT_MAX_BYTES", "Outbox", "OutboxFullError", "OutboxItem", "OutboxStats"],
    "edgesight.agent.runner": ["Agent", "AgentSettings", "AgentStats", "PRIVACY_REFUSAL"],
    "edgesight.agent.twin": ["DesiredConfig", "DesiredTwin", "InspectionPolicy", "LIVE_SENSOR_KEYS",
        "PrivacyPolicy", "TwinState", "UploadPolicy", "load_applied", "parse_desired", "resolve_twin",
        "save_applied"],
    "edgesight.agent.uplink": ["DownlinkHandler", "Uplink", "UplinkSettings", "UplinkStats"],
    "edgesight.apps": [],
    "edgesight.apps.appearance_tracker": ["AppearanceTracker"],
    "edgesight.apps.blas_threads": ["use_one_blas_thread"],
    "edgesight.apps.distance": ["DistanceMonitor", "SpeedEstimator", "floor_points"],
    "edgesight.apps.engine": ["Analytics", "AnalyticsResult", "make_tracker"],
    "edgesight.apps.ground_gate": ["FOOT_JITTER", "GROUND_SLACK_M", "GroundGate", "GroundReach"],
    "edgesight.apps.heatmap": ["Heatmap", "colorize", "encode_png"],
    "edgesight.apps.inspection": [],
    "edgesight.apps.inspection.calibration": ["MIN_HELD_OUT", "calibrate_threshold"],
    "edgesight.apps.inspection.errors": ["InspectionInputError"],
    "edgesight.apps.inspection.features": ["patch_features", "random_projection"],
    "edgesight.apps.inspection.memory_bank": ["MemoryBank", "greedy_coreset"],
    "edgesight.apps.inspection.metrics": ["Confusion", "PRO_FPR_LIMIT", "auroc", "pro_score"],
    "edgesight.apps.inspection.model": ["InspectionModel", "Verdict"],
    "edgesight.apps.inspection.product": ["InspectionProduct", "PRODUCT", "PRODUCT_FORMAT", "PRODUCT_NAME",
        "PRODUCT_SUFFIX", "ProductSettings", "check_product_name", "parse_product", "product_path",
        "read_product", "sign_product", "verify_product", "write_product"],
    "edgesight.apps.inspection.scoring": ["PIXEL_SIGMA", "SMOOTHING_CELLS", "anomaly_grid",
        "defect_region", "pixel_map", "upsample"],
    "edgesight.apps.inspection.tally": ["ProductTally", "tally_inspections"],
    "edgesight.apps.lines": ["LineCounter"],
    "edgesight.apps.retail": [],
    "edgesight.apps.retail.queue": ["MAX_SAMPLES", "QueueApp", "QueueStatus"],
    "edgesight.apps.retail.restock_trend": ["AlarmState", "DepletionEstimator", "DepletionState",
        "RestockAlarm", "TimeToThreshold", "theil_sen", "time_to_threshold"],
    "edgesight.apps.retail.shelf": ["GAP_BINS", "GRID", "ShelfApp", "ShelfReading", "gaps_along",
        "union_cover"],
    "edgesight.apps.retail.staffing": ["ArrivalRateEstimator", "EwmaRateEstimator", "StaffingAdvice",
        "erlang_b", "erlang_c", "littles_law_wait_s", "mean_wait_s", "recommend_counters", "service_level"],
    "edgesight.apps.safety": ["SafetyApp"],
    "edgesight.apps.stitch": ["Link", "StandaloneStitch", "TrackStitcher"],
    "edgesight.apps.track_rows": ["INFEASIBLE", "IdSource", "KalmanRows", "TrackState", "assign",
        "concat_rows", "confirmed_states", "reported", "select_rows"],
    "edgesight.apps.tracking": ["BYTETRACK_MEMORY_FRAMES", "ClassFilter", "HoldsTrackState", "TrackState", "TrackTable", "Tracker"],
    "edgesight.apps.zones": ["ZoneCounter"],
    "edgesight.cli": ["app", "main"],
    "edgesight.cli.agent": ["main", "register"],
    "edgesight.cli.events": ["register"],
    "edgesight.cli.hub": ["hub_app", "register"],
    "edgesight.cli.inspection": ["register"],
    "edgesight.cli.inspection_opcua": ["check_opcua", "opcua_cert"],
    "edgesight.cli.model_rollout": ["register"],
    "edgesight.cli.model_train": ["register"],
    "edgesight.cli.models": ["register"],
    "edgesight.cli.sense": ["add_analytics_rows", "parse_roi", "parse_tiling", "register"],
    "edgesight.core": [],
    "edgesight.core.config": ["AnalyticsConfig", "AppsConfig", "COCO_LABELS", "CalibrationConfig",
        "DEFAULT_MODEL", "DangerZoneConfig", "DeviceConfig", "DistanceConfig", "HeatmapConfig",
        "KNOWN_CLASSES_CONTEXT", "LineConfig", "OccupancyMode", "ProximityConfig", "QueueAppConfig",
        "SafetyAppConfig", "SensorSection", "Severity", "ShelfAppConfig", "ShelfConfig", "SpeedConfig",
        "StitchConfig", "TrackingConfig", "ZoneConfig", "config_error_message", "load_config", "parse_config",
        "resolve_polygon"],
    "edgesight.core.config.analytics": ["AnalyticsConfig"],
    "edgesight.core.config.apps": ["AppsConfig"],
    "edgesight.core.config.base": ["ClassList", "Fraction", "HourSeconds", "IntervalSeconds", "Name",
        "Point", "Polygon", "PositiveFraction", "PositiveSeconds", "Seconds", "StrictSection",
        "check_normalised"],
    "edgesight.core.config.calibration": ["CalibrationConfig", "check_calibration_points"],
    "edgesight.core.config.checks": ["check_apps_classes", "check_apps_need", "check_apps_references",
        "check_calibration_present", "check_reference", "check_tracking_enabled", "check_unique_names",
        "check_zone_and_line_names"],
    "edgesight.core.config.device": ["DeviceConfig"],
    "edgesight.core.config.distance": ["DistanceConfig", "SpeedConfig", "check_distance_range"],
    "edgesight.core.config.heatmap": ["HeatmapConfig"],
    "edgesight.core.config.labels": ["COCO_LABELS", "KNOWN_CLASSES_CONTEXT", "check_known_classes"],
    "edgesight.core.config.lines": ["DEFAULT_DEAD_BAND", "LineConfig", "check_line_segment"],
    "edgesight.core.config.loading": ["config_error_message", "load_config", "parse_config", "shorten"],
    "edgesight.core.config.model_trust": ["TrustSettings"],
    "edgesight.core.config.queue": ["CounterConfig", "QueueAppConfig", "check_queue_targets"],
    "edgesight.core.config.safe_yaml": ["MAX_CONFIG_BYTES", "MAX_DEPTH", "load_yaml"],
    "edgesight.core.config.safety": ["DangerZoneConfig", "ProximityConfig", "SafetyAppConfig", "Severity",
        "check_danger_zone_can_fire", "check_proximity_threshold", "check_safety_rules"],
    "edgesight.core.config.sensor": ["DEFAULT_MODEL", "DEFAULT_NMS_DEPTH_GAP", "Deblocking", "MAX_SOURCE_CHARS",
        "RegionField", "Runtime", "SensorSection", "check_source"],
    "edgesight.core.config.stitch": ["StitchConfig"],
    "edgesight.core.config.shelf": ["OccupancyMode", "ShelfAppConfig", "ShelfConfig",
        "check_shelf_occupancy"],
    "edgesight.core.config.tracking": ["TrackingConfig", "check_tracking_thresholds"],
    "edgesight.core.config.zones": ["ZoneConfig", "ZoneRef", "check_zone_ref", "resolve_polygon"],
    "edgesight.core.detections": ["Detections"],
    "edgesight.core.errors": ["ConfigError", "EdgeSightError", "InputError", "ModelLoadError",
        "PackageTrustError", "SchemaError", "SourceEndedError", "SourceError", "StorageError",
        "UnsupportedVersionError"],
    "edgesight.core.events": ["DistanceEventName", "EVENT_SCHEMA", "Event", "EventType", "FrameContext",
        "FrameLike", "LineStatus", "Trigger", "event_from_json", "event_to_json"],
    "edgesight.core.exit_codes": ["ExitCode"],
    "edgesight.core.frame": ["FRAME_SCHEMA", "FrameMeta", "ImageAttachment", "Kpi", "ModelRef", "OutputMode"],
    "edgesight.core.intrinsics": ["ColorOrder", "DecoderSpec", "INTRINSICS_SCHEMA_VERSION", "InputSpec",
        "Intrinsics", "Layout", "ResizeMode", "Task", "Thresholds", "Tiling"],
    "edgesight.core.loopback": ["is_loopback"],
    "edgesight.core.manifest": ["ArchiveFormat", "MANIFEST_MEMBER", "Manifest", "SIGNATURE_MEMBER",
        "verify_members", "write_archive"],
    "edgesight.core.mqtt_security": ["BrokerAddress", "MqttClientSecurity", "TlsFiles", "parse_broker_url",
        "secure_client"],
    "edgesight.core.package": ["LIMITS", "ModelPackage", "PACKAGE", "PACKAGE_FORMAT", "PACKAGE_SUFFIX",
        "SIGNATURE_MEMBER", "UnpackLimits", "parse_package", "read_package", "read_package_bytes",
        "unpack_bytes", "unpack_members", "write_package"],
    "edgesight.core.private_files": ["FILE_MODE", "FOLDER_MODE", "ensure_private_file", "private_folder",
        "write_private_text"],
    "edgesight.core.region": ["Region"],
    "edgesight.core.signing": ["KEY_PREFIX", "check_signature", "key_id", "load_private_key",
        "load_public_key", "parse_public_key", "public_key_text", "sign_archive", "sign_package",
        "write_keypair"],
    "edgesight.core.trust": ["AcceptedVersions", "TrustSettings", "Verdict", "sha256_file",
        "signature_basis", "verify_package"],
    "edgesight.core.twin": ["merge_patch"],
    "edgesight.core.wire": ["Ack", "BATCH_VERSIONS", "BINARY_SUFFIX", "COMMAND_TTL_S", "Command",
        "CommandResult", "DOWNLINK_KINDS", "DesiredTwin", "Envelope", "EnvelopeError", "EventBatch",
        "EventWriter", "FrameBatch", "FrameEntry", "HealthLimits", "Heartbeat", "Kind", "Leaf",
        "MAX_BODY_BYTES", "MAX_PAYLOAD", "MESSAGE_TYPES", "Message", "MetadataWriter", "ModelReport",
        "ModelState", "ModelTarget", "ROLLOUT_VERSION", "ReportedTwin", "SUPPORTED_SCHEMAS",
        "SecretLookup", "decode_batch", "decode_message", "encode_batch", "frame_from_dict",
        "frame_from_json", "frame_to_dict", "frame_to_json", "index_batch", "iter_jsonl", "join_envelopes",
        "open_envelope", "parse_topic", "peek_device_id", "read_events", "read_metadata",
        "shared_up_subscription", "split_envelopes", "topic", "up_topic_device_id", "write_jsonl"],
    "edgesight.factory": [],
    "edgesight.factory.datasets": ["ClassificationData", "DatasetError", "DatasetFormat", "DetectionData",
        "DetectionSample", "IMAGE_SUFFIXES", "load_detection", "load_folders", "require_nonempty", "split"],
    "edgesight.factory.detection_head": ["Grid", "NanoDetHead", "Targets", "assign", "boxes_from", "loss"],
    "edgesight.factory.evaluate": ["Accuracy", "EVAL_SCORE_THRESHOLD", "best_score_threshold", "cell_grid",
        "decode", "evaluate_network", "mean_average_precision", "targets_of"],
    "edgesight.factory.latency": ["median_latency_ms"],
    "edgesight.factory.memory_report": ["DEFAULT_BUDGET", "GraphCost", "GraphError", "WeightGroup",
        "analyse", "load_graph", "parse_size"],
    "edgesight.factory.nanodet_graph": ["ConvWeights", "HeadConv", "NanoDetHeads", "TowerLayer",
        "feature_network", "find_heads", "head_weights", "tower_weights", "with_heads", "with_input_size"],
    "edgesight.factory.preprocess": ["Letterbox", "read_bgr", "to_tensor"],
    "edgesight.factory.quantize": ["INT8_OPS", "pool_before_activation", "quantize_int8"],
    "edgesight.factory.quantize_package": ["calibration_tensors", "quantize_package"],
    "edgesight.factory.train_classifier": ["ClassifierResult", "classifier_network", "train_classifier"],
    "edgesight.factory.train_detector": ["EpochResult", "ProgressCallback", "TrainResult", "TrainSettings",
        "licences", "train_detector", "write_package_atomic"],
    "edgesight.geometry": ["Anchor", "FOOTPRINT_HEIGHT_FRACTION", "anchor_points", "apply_homography",
        "box_iou", "collinear_triple", "cross_2d", "crossed_edge", "crossed_edges", "crossing_points",
        "homography_from_points", "line_sides", "pad_polygons", "points_in_polygon", "points_in_polygons",
        "polygon_area", "polygon_problem", "rule_anchor_points", "segments_cross", "segments_intersect",
        "validate_polygon"],
    "edgesight.geometry.boxes": ["Anchor", "EDGE_MARGIN", "FOOTPRINT_HEIGHT_FRACTION", "anchor_points",
        "at_frame_edge", "box_iou", "buffered_iou", "rule_anchor_points"],
    "edgesight.geometry.homography": ["apply_homography", "collinear_triple", "homography_from_points"],
    "edgesight.geometry.lines": ["cross_2d", "crossing_points", "line_sides", "segments_cross",
        "segments_intersect"],
    "edgesight.geometry.motion": ["kalman_initiate", "kalman_predict", "kalman_update", "state_to_xyxy",
        "xyxy_to_cxcywh"],
    "edgesight.geometry.polygons": ["crossed_edge", "crossed_edges", "pad_polygons", "points_in_polygon",
        "points_in_polygons", "polygon_area", "polygon_problem", "validate_polygon"],
    "edgesight.hub": [],
    "edgesight.hub.api": ["create_app"],
    "edgesight.hub.api.app": ["create_app"],
    "edgesight.hub.api.deps": ["AdminDep", "DeviceDep", "HubDep", "SettingsDep", "get_settings"],
    "edgesight.hub.api.errors": ["RefuseNulMiddleware", "install_error_handlers"],
    "edgesight.hub.api.params": ["FromQuery", "LimitQuery", "MAX_LIMIT", "MAX_ROW_ID", "MAX_UNIX_S",
        "RowIdQuery", "ToQuery"],
    "edgesight.hub.api.routes": [],
    "edgesight.hub.api.routes.devices": ["device_or_404", "router"],
    "edgesight.hub.api.routes.export": ["router"],
    "edgesight.hub.api.routes.health": ["router"],
    "edgesight.hub.api.routes.ingest": ["router"],
    "edgesight.hub.api.routes.insights": ["router"],
    "edgesight.hub.api.routes.models": ["MAX_UPLOAD_BYTES", "admin_router", "device_router"],
    "edgesight.hub.api.routes.queries": ["FilterDep", "router"],
    "edgesight.hub.api.routes.rules": ["router"],
    "edgesight.hub.api.routes.twins": ["router"],
    "edgesight.hub.api.schemas": ["AlertPublic", "CommandCreate", "CommandPublic", "Condition",
        "DEVICE_ID", "DeploymentCreate", "DeploymentHalt", "DeploymentPublic", "DesiredPatch", "DeviceCreate",
        "DeviceCredentials", "DevicePublic", "DeviceRolloutPublic", "EventPublic", "FramePublic",
        "IngestResponse", "ModelPublic", "OutcomePublic", "RuleCreate", "RulePublic", "TagsUpdate",
        "Topics", "TwinPublic"],
    "edgesight.hub.console": [],
    "edgesight.hub.console.accounts": ["ADMIN_TOKEN_USER", "Role", "SESSION_TTL_S", "Session", "add_user",
        "authenticate", "end_session", "find_session", "start_session"],
    "edgesight.hub.console.alerts": ["router"],
    "edgesight.hub.console.auth": ["COOKIE", "EditorDep", "SessionDep", "clear_cookie", "set_cookie"],
    "edgesight.hub.console.backgrounds": ["MAX_BYTES", "exists", "image_type", "load", "store"],
    "edgesight.hub.console.editor": ["ShapesBody", "check_shapes", "running_analytics", "save_shapes"],
    "edgesight.hub.console.fleet_admin": ["router"],
    "edgesight.hub.console.panels": ["HEATMAP_GRID", "HEATMAP_WINDOW_S", "advised_per_hour",
        "device_panels", "heatmap", "restock_list", "store_staffing"],
    "edgesight.hub.console.passwords": ["hash_password", "new_password", "verify_password"],
    "edgesight.hub.console.routes": ["install", "router"],
    "edgesight.hub.console.views": ["OFFLINE_AFTER_S", "device_row", "device_status", "fleet",
        "live_counts", "model_rollout", "new_events", "split_model", "twin_versions"],
    "edgesight.hub.downlink": ["DesiredTooLargeError", "NullPublisher", "Publisher", "RecordingPublisher",
        "ack_envelope", "check_desired_fits", "send_command", "send_desired"],
    "edgesight.hub.ingest": ["BatchResult", "IngestOptions", "IngestStatus", "Ingestor", "MIN_TIMESTAMP",
        "Outcome"],
    "edgesight.hub.insights": ["inspection", "restock", "staffing"],
    "edgesight.hub.login_throttle": ["LoginThrottle"],
    "edgesight.hub.metrics": ["CONTENT_TYPE", "HubMetrics"],
    "edgesight.hub.mqtt_worker": ["MqttWorker"],
    "edgesight.hub.rollout": ["DeploymentRequest", "RolloutController", "resolve_targets"],
    "edgesight.hub.rules": ["OPERATORS", "RuleEngine", "matches"],
    "edgesight.hub.service": ["HubService"],
    "edgesight.hub.settings": ["HubSettings"],
    "edgesight.hub.storage": ["Database"],
    "edgesight.hub.storage.db": ["Database", "alembic_config"],
    "edgesight.hub.storage.devices": ["DeviceInfo", "Enrolment", "TwinState", "check_tags",
        "create_command", "enrol", "get_device", "get_twin", "list_devices", "patch_desired", "revoke",
        "secrets_of", "set_tags", "verify_token"],
    "edgesight.hub.storage.ingest_store": ["AckState", "CommandResultRow", "EventRecord", "FrameBatchRow",
        "FrameIndexRow", "HealthRow", "IngestStatus", "LogRow", "MessageRows", "ReportedRow", "StoreBatch",
        "StoreResult", "rollup", "store_batch"],
    "edgesight.hub.storage.migrations": [],
    "edgesight.hub.storage.migrations.env": ["run", "target_metadata"],
    "edgesight.hub.storage.migrations.versions": [],
    "edgesight.hub.storage.migrations.versions.0001_initial": ["branch_labels", "depends_on",
        "down_revision", "downgrade", "revision", "upgrade"],
    "edgesight.hub.storage.migrations.versions.0002_frame_batches": ["branch_labels", "depends_on",
        "down_revision", "downgrade", "revision", "upgrade"],
    "edgesight.hub.storage.migrations.versions.0003_console": ["branch_labels", "depends_on",
        "down_revision", "downgrade", "revision", "upgrade"],
    "edgesight.hub.storage.migrations.versions.0004_rollout": ["branch_labels", "depends_on",
        "down_revision", "downgrade", "revision", "upgrade"],
    "edgesight.hub.storage.migrations.versions.0005_rule_mute": ["branch_labels", "depends_on",
        "down_revision", "downgrade", "revision", "upgrade"],
    "edgesight.hub.storage.migrations.versions.0006_report_timeout": ["branch_labels", "depends_on",
        "down_revision", "downgrade", "revision", "upgrade"],
    "edgesight.hub.storage.models": ["ModelInfo", "add_model", "get_model", "highest_version",
        "list_models", "model_blob"],
    "edgesight.hub.storage.queries": ["EVENT_COLUMNS", "Filter", "aggregates", "counts",
        "event_properties", "events", "frames", "iter_events"],
    "edgesight.hub.storage.rollouts": ["ACTIVE", "DEFAULT_REPORT_TIMEOUT_S", "DeploymentInfo", "DeviceRollout",
        "TIMED_OUT", "WAITING", "active_for_device", "create_deployment", "devices_of", "get_deployment",
        "list_deployments", "set_device_state", "set_status", "time_out", "waiting"],
    "edgesight.hub.storage.rules": ["alert_totals", "create_rule", "insert_alerts", "list_alerts",
        "list_rules", "mark_alert", "mute_rule", "public_mute", "recent_alerts", "update_rule"],
    "edgesight.hub.storage.secret_box": ["SEALED_PREFIX", "SealedSecret", "SecretBox"],
    "edgesight.hub.storage.tables": ["Aggregate", "Alert", "Base", "Command", "ConsoleBackground",
        "ConsoleSession", "ConsoleUser", "Deployment", "DeploymentDevice", "Device", "DeviceHealth",
        "EventRow", "FrameBatch", "FrameRow", "IngestLog", "ModelRow", "Rule", "Twin"],
    "edgesight.sensor": [],
    "edgesight.sensor.annotate": ["FrameAnnotator", "VideoAnnotator"],
    "edgesight.sensor.appearance": ["EMBEDDING_SIZE", "frame_histograms", "torso_histograms"],
    "edgesight.sensor.decoders": ["Candidates", "Decoder", "build_decoder", "nms"],
    "edgesight.sensor.decoders.base": ["Candidates", "Decoder", "require", "sigmoid"],
    "edgesight.sensor.decoders.classification": ["ClassificationDecoder"],
    "edgesight.sensor.decoders.nanodet": ["NanoDetDecoder"],
    "edgesight.sensor.decoders.nms": ["nms"],
    "edgesight.sensor.decoders.ssd": ["SsdDecoder"],
    "edgesight.sensor.decoders.yolo": ["YoloDecoder"],
    "edgesight.sensor.detector": ["Detector", "DetectorTimings"],
    "edgesight.sensor.images": ["encode_attachment"],
    "edgesight.sensor.inspection": [],
    "edgesight.sensor.inspection.backbone": ["BACKBONE_MODEL", "BackboneSpec", "FEATURE_STRIDE",
        "FeatureNetwork", "GRID_STAGE", "STAGE_OUTPUTS", "cut_feature_network", "load_backbone"],
    "edgesight.sensor.deblocking_policy": ["Deblocking", "SKIP_ABOVE", "deblocks"],
    "edgesight.sensor.inspection.evaluation": ["Evaluation", "evaluate"],
    "edgesight.sensor.inspection.feature_head": ["FEATURES_OUTPUT", "with_feature_head"],
    "edgesight.sensor.inspection.inspector": ["Inspector", "MIN_GOOD_PARTS", "MIN_TRAIN_PARTS",
        "TrainOptions", "part_size_of", "train_product"],
    "edgesight.sensor.inspection.line": ["FINDINGS", "InspectedPart", "STREAM_ID", "apply_feedback",
        "feedback_event", "inspect_part", "inspect_parts", "record_finding", "save_heatmap"],
    "edgesight.sensor.inspection.opcua": ["OPCUA_NAMESPACE", "OpcUaRejectSignal"],
    "edgesight.sensor.inspection.opcua_cert": ["certificate_uri", "make_application_certificate"],
    "edgesight.sensor.inspection.parts": ["IMAGE_SUFFIXES", "MIN_PART_SIDE", "fit_part", "image_files",
        "read_part", "read_parts", "video_parts"],
    "edgesight.sensor.inspection.signals": ["ModbusRejectSignal", "MqttRejectSignal", "RejectSignal",
        "SignalError"],
    "edgesight.sensor.inspection.station": ["RECENT_PARTS", "Station"],
    "edgesight.sensor.inspection.triggers": ["BUSY", "FindingReport", "HttpTrigger", "MAX_WAITING",
        "MqttTrigger", "PART_ID", "PartRequest", "Reply", "Request", "parse_finding", "parse_trigger"],
    "edgesight.sensor.isp": ["BoxTransform", "Isp", "IspOutput", "crop_box", "input_geometry",
        "tile_regions"],
    "edgesight.sensor.pipeline": ["Sensor", "SensorSettings", "SensorStats", "default_sessions"],
    "edgesight.sensor.preview": ["PreviewAddress", "PreviewServer"],
    "edgesight.sensor.openvino_runtime": ["OpenVinoNetwork", "Precision", "openvino_installed",
        "telemetry_choice_file"],
    "edgesight.sensor.runtime": ["Network", "OnnxNetwork", "check_input"],
    "edgesight.sensor.runtime_policy": ["BF16_MODEL", "Engine", "bfloat16_wins", "choose_engine", "cpu_flags",
        "cpu_vendor", "default_model", "open_network", "openvino_precision", "runtime_name"],
    "edgesight.sensor.sources": ["BaseFrameSource", "CameraSource", "Capture", "CropBox", "Frame",
        "FrameSource", "IMAGE_SUFFIXES", "ImageFolderSource", "ReconnectPolicy", "STREAM_SCHEMES",
        "ScalerCache", "SourceStats", "StreamSource", "VideoFileSource", "open_source", "patch_step"],
    "edgesight.sensor.swap": ["LoadedModel", "load_beside", "self_test"],
    "edgesight.sensor.tiling_policy": ["MAX_TILES", "TILE_ABOVE", "TILE_OVERLAP", "auto_tiling"],
    "edgesight.sensor.zoo": ["DEFAULT_MODEL", "PINS_FILE", "configured_model", "load_model", "resolve_model", "verify_model",
        "zoo_dir", "zoo_names", "zoo_pins"],
    "edgesight.testing": ["FakeDevice", "SyntheticFeed", "mock_detections"],
    "edgesight.testing.detections": ["mock_detections"],
    "edgesight.testing.fake_device": ["FakeDevice"],
    "edgesight.testing.feeds": ["SyntheticFeed"],
}  # fmt: skip

# What `import edgesight` must not pull in: the re-exports come from core only.
HEAVY = ("onnxruntime", "openvino", "cv2", "av", "sqlalchemy", "fastapi", "paho")


def public_modules() -> list[str]:
    """Every module under src/edgesight with no ``_``-prefixed part, found on disk (not by import)."""
    names = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return sorted(names)


def test_every_public_module_is_pinned() -> None:
    assert public_modules() == sorted(EXPORTS)


@pytest.mark.parametrize("module", sorted(EXPORTS))
def test_all_is_declared_and_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert "__all__" in vars(mod), f"{module} has no __all__"
    assert len(set(mod.__all__)) == len(mod.__all__), f"{module}.__all__ lists a name twice"
    assert sorted(mod.__all__) == EXPORTS[module]


@pytest.mark.parametrize("module", sorted(EXPORTS))
def test_every_exported_name_exists(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert missing == [], f"{module}.__all__ names what it does not define: {missing}"


def test_top_level_reexports_are_the_core_objects() -> None:
    import edgesight
    from edgesight.core.config import load_config
    from edgesight.core.errors import EdgeSightError
    from edgesight.core.frame import FrameMeta

    assert (edgesight.FrameMeta, edgesight.EdgeSightError, edgesight.load_config) == (
        FrameMeta,
        EdgeSightError,
        load_config,
    )
    for name in edgesight.__all__:
        origin = getattr(getattr(edgesight, name), "__module__", "edgesight")
        assert origin.startswith(("edgesight.core.", "edgesight.geometry.")) or origin == "edgesight", name


def test_import_edgesight_loads_no_io_library() -> None:
    probe = "import sys, edgesight; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "edgesight" in loaded and "pydantic" in loaded  # the probe sees what the import loads
    assert sorted(loaded.intersection(HEAVY)) == []
